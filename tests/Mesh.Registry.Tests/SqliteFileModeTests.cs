using System.Runtime.Versioning;
using Mesh.Registry.Cli;
using Mesh.Registry.Store.Sqlite;
using Mesh.Testing;

namespace Mesh.Registry.Tests;

/// <summary>
/// The SQLite store holds the hashes of every token: a new store file, its WAL and its new folder are for the owner
/// only, while an existing folder keeps the mode its owner chose.
/// </summary>
[UnsupportedOSPlatform("windows")] // Unix file modes; the project's tests run on Linux
public sealed class SqliteFileModeTests : IDisposable
{
    private const UnixFileMode OwnerReadWrite = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode OwnerOnlyFolder = OwnerReadWrite | UnixFileMode.UserExecute;

    private readonly string _directory = Path.Combine(Path.GetTempPath(), "mesh-registry-tests", Guid.NewGuid().ToString("N"));

    public void Dispose() => RegistryHost.DeleteDirectory(_directory);

    [Fact]
    public void A_new_store_is_readable_by_its_owner_only()
    {
        var path = Path.Combine(_directory, "data", "registry.db");

        using (var database = new SqliteRegistryDatabase(path))
        {
            database.SetMeta("written", "yes"); // the WAL exists once something was written

            File.GetUnixFileMode(Path.GetDirectoryName(path)!).ShouldBe(OwnerOnlyFolder);
            File.GetUnixFileMode(path).ShouldBe(OwnerReadWrite);
            File.GetUnixFileMode(path + "-wal").ShouldBe(OwnerReadWrite);
        }

        using var reopened = new SqliteRegistryDatabase(path);
        reopened.GetMeta("written").ShouldBe("yes");
    }

    [Fact]
    public async Task A_backup_is_readable_by_its_owner_only()
    {
        var path = Path.Combine(_directory, "registry.db");
        using (var database = new SqliteRegistryDatabase(path))
        {
            database.SetMeta("written", "yes");
        }

        var backup = Path.Combine(_directory, "backup.db");
        var error = new StringWriter();
        var code = await RegistryCli.RunAsync(["backup", "--data-path", path, "--to", backup], new StringWriter(), error, _ => null);

        code.ShouldBe(0, error.ToString());
        File.GetUnixFileMode(backup).ShouldBe(OwnerReadWrite);
    }

    [Fact]
    public void An_existing_folder_keeps_its_mode()
    {
        const UnixFileMode Shared = OwnerOnlyFolder | UnixFileMode.GroupRead | UnixFileMode.GroupExecute;
        Directory.CreateDirectory(_directory, Shared);

        using var database = new SqliteRegistryDatabase(Path.Combine(_directory, "registry.db"));

        File.GetUnixFileMode(_directory).ShouldBe(Shared);
        File.GetUnixFileMode(Path.Combine(_directory, "registry.db")).ShouldBe(OwnerReadWrite);
    }
}
