using Mesh.Client.Registry;

namespace Mesh.Client.Tests.Registry;

/// <summary>
/// The snapshot of the registry's state an app routes on at start (endpoints and policies) must be its own: in a folder
/// another user made first (the shared temp folder's <c>meshlib</c>, say), that user could plant endpoints to route to,
/// or a link through which the app's next write overwrites a file of its choosing.
/// </summary>
public sealed class RegistryCacheFolderTests
{
    [Fact]
    public void The_default_cache_folder_is_the_users_own_not_the_shared_temp_folder()
    {
        var mesh = new MeshOptions { Service = { Name = "reviews" } };
        mesh.Registry.Url = new Uri("https://registry.internal:7400");
        var path = RegistryDiscoverySource.CachePath(mesh);

        var local = Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.DoNotVerify);
        if (local.Length == 0)
        {
            // No per-user folder: no cache rather than one in a folder others share.
            path.ShouldBeNull();
            return;
        }

        path.ShouldNotBeNull();
        path.ShouldStartWith(Path.Combine(local, "MeshLib", "cache") + Path.DirectorySeparatorChar);
        path.ShouldNotStartWith(Path.GetTempPath());

        // An explicit folder is taken as given, and empty turns the cache off.
        mesh.Registry.CacheDirectory = "/srv/mesh-cache";
        RegistryDiscoverySource.CachePath(mesh)!.ShouldStartWith("/srv/mesh-cache");
        mesh.Registry.CacheDirectory = string.Empty;
        RegistryDiscoverySource.CachePath(mesh).ShouldBeNull();
    }

    [Fact]
    public void A_cache_folder_it_makes_is_its_users_alone()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        var root = Directory.CreateTempSubdirectory("mesh-cache-folder-").FullName;
        try
        {
            var folder = Path.Combine(root, "a", "b");
            RegistryDiscoverySource.CreateCacheFolder(folder);
            File.GetUnixFileMode(folder).ShouldBe(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }
}
