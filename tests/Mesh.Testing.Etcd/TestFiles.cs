using System.Security.Cryptography.X509Certificates;

namespace Mesh.Testing;

/// <summary>File-system and certificate chores the test hosts share.</summary>
public static class TestFiles
{
    /// <summary>Deletes <paramref name="directory"/> and everything in it, retrying while a handle another thread holds closes.</summary>
    public static void DeleteDirectory(string directory)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                if (Directory.Exists(directory))
                {
                    Directory.Delete(directory, recursive: true);
                }

                return;
            }
            catch (IOException) when (attempt < 5)
            {
                Thread.Sleep(50); // a file handle closing on another thread; only in clean-up
            }
        }
    }

    /// <summary>Whether <paramref name="leaf"/> chains to one of <paramref name="roots"/> at <paramref name="at"/>, trusting nothing else.</summary>
    public static bool ChainsTo(X509Certificate2 leaf, X509Certificate2Collection roots, DateTimeOffset at)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots);
        chain.ChainPolicy.VerificationTime = at.UtcDateTime;
        return chain.Build(leaf);
    }
}
