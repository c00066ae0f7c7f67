using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;

namespace Mesh.Registry.Ca;

/// <summary>
/// The CA's folder, which every replica started with the same <c>MeshRegistry:CaPath</c> shares: <c>ca.json</c>, each
/// root's <c>&lt;id&gt;.crt.pem</c> and <c>&lt;id&gt;.key.pem</c> (0600), and <c>ca.lock</c>. Whoever reads or changes
/// the CA holds <c>ca.lock</c> open exclusively (an OS file lock: <c>flock</c> on Unix, a share mode on Windows), so two
/// replicas never both make a first root, and a change is read whole. Every file is written to a temporary name and
/// renamed into place, so even a reader without the lock never sees half a file. CAs in one process that share the
/// folder (tests, or an app hosting two registries) take turns on a semaphore first, so they wait for each other
/// without trying the file again and again; only other processes are waited for by retrying.
/// </summary>
internal sealed class CaFolder(string directory, TimeProvider time)
{
    public const string StateFile = "ca.json";
    public const string LockFile = "ca.lock";

    /// <summary>How often a busy lock is tried again: short next to any change's duration, long next to a system call.</summary>
    private static readonly TimeSpan LockRetry = TimeSpan.FromMilliseconds(50);

    private static readonly ConcurrentDictionary<string, SemaphoreSlim> Turns = new(StringComparer.Ordinal);

    public string Directory { get; } = directory;

    /// <summary>Whether .NET was told to take no file locks (then <c>ca.lock</c> keeps no other process out).</summary>
    public static bool FileLockingDisabled =>
        (AppContext.TryGetSwitch("System.IO.DisableFileLocking", out var disabled) && disabled) ||
        Environment.GetEnvironmentVariable("DOTNET_SYSTEM_IO_DISABLEFILELOCKING") is "1" or "true" or "True" or "TRUE";

    public string StatePath => Path.Combine(Directory, StateFile);

    public string LockPath => Path.Combine(Directory, LockFile);

    public string KeyPath(string id) => Path.Combine(Directory, id + ".key.pem");

    public string CertificatePath(string id) => Path.Combine(Directory, id + ".crt.pem");

    /// <summary>Makes the folder (0700) if it is not there.</summary>
    public void Create()
    {
        if (OperatingSystem.IsWindows())
        {
            System.IO.Directory.CreateDirectory(Directory);
            return;
        }

        const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        System.IO.Directory.CreateDirectory(Directory, Private);
        if (File.GetUnixFileMode(Directory) != Private)
        {
            try
            {
                File.SetUnixFileMode(Directory, Private);
            }
            catch (UnauthorizedAccessException)
            {
                // A shared mount this user does not own keeps its mode; the keys in it are 0600 all the same.
            }
        }
    }

    /// <summary>Takes the folder's lock, blocking: for the start, before the registry serves anything.</summary>
    public CaFolderLock Lock(TimeSpan timeout, Action onBusy) => LockAsync(timeout, onBusy, CancellationToken.None).GetAwaiter().GetResult();

    /// <summary>
    /// Takes the folder's lock: this process's turn first, then the lock file, tried again every <see cref="LockRetry"/>
    /// while another process holds it, until <paramref name="timeout"/> passes in all.
    /// </summary>
    public async Task<CaFolderLock> LockAsync(TimeSpan timeout, Action onBusy, CancellationToken cancellationToken)
    {
        var deadline = time.GetUtcNow() + timeout;
        var turn = Turns.GetOrAdd(Directory, static _ => new SemaphoreSlim(1, 1));
        if (!turn.Wait(0, CancellationToken.None))
        {
            using var expiry = new CancellationTokenSource(timeout, time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, expiry.Token);
            try
            {
                await turn.WaitAsync(linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (expiry.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                throw Busy(timeout, "this process's other registry holds it", null);
            }
        }

        try
        {
            var busy = false;
            while (true)
            {
                try
                {
                    return new CaFolderLock(OpenLock(), turn);
                }
                catch (IOException ex) when (ex is not FileNotFoundException and not DirectoryNotFoundException)
                {
                    if (time.GetUtcNow() >= deadline)
                    {
                        throw Busy(timeout, ex.Message, ex);
                    }

                    if (!busy)
                    {
                        busy = true;
                        onBusy();
                    }
                }

                await Task.Delay(LockRetry, time, cancellationToken).ConfigureAwait(false);
            }
        }
        catch
        {
            turn.Release();
            throw;
        }
    }

    /// <summary>The state, or null when there is none yet. Throws when it is there but not valid.</summary>
    public CaState? ReadState()
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(StatePath);
        }
        catch (FileNotFoundException)
        {
            return null;
        }

        CaState? state;
        try
        {
            state = JsonSerializer.Deserialize(bytes, CaJsonContext.Default.CaState);
        }
        catch (JsonException ex)
        {
            throw new InvalidOperationException($"{StatePath}: not a valid CA state file ({ex.Message})", ex);
        }

        if (state is null || state.Roots.Count == 0 || !state.Roots.Contains(state.Active))
        {
            throw new InvalidOperationException($"{StatePath}: lists no roots, or its active root is not among them");
        }

        foreach (var id in state.Roots)
        {
            if (!IsId(id))
            {
                throw new InvalidOperationException($"{StatePath}: '{Truncate(id)}' is not a root id (16 lower-case hex digits)");
            }
        }

        return state;
    }

    public void WriteState(CaState state) =>
        WriteAtomically(StatePath, JsonSerializer.SerializeToUtf8Bytes(state, CaJsonContext.Default.CaState), UnixFileMode.UserRead | UnixFileMode.UserWrite);

    /// <summary>A root as its files hold it, with its key; its key file is made 0600 if it is not.</summary>
    public CaRoot ReadRoot(string id)
    {
        var keyPath = KeyPath(id);
        if (!File.Exists(keyPath))
        {
            throw new InvalidOperationException($"{StatePath}: root '{Truncate(id)}' has no key file {keyPath}");
        }

        if (!OperatingSystem.IsWindows() && File.GetUnixFileMode(keyPath) != (UnixFileMode.UserRead | UnixFileMode.UserWrite))
        {
            File.SetUnixFileMode(keyPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        return new CaRoot(id, X509Certificate2.CreateFromPemFile(CertificatePath(id), keyPath));
    }

    /// <summary>Writes a new root's files: the key first, as nothing names a root before its certificate is there.</summary>
    public void WriteRoot(string id, string certificatePem, string keyPem)
    {
        WriteAtomically(KeyPath(id), System.Text.Encoding.ASCII.GetBytes(keyPem), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        WriteAtomically(CertificatePath(id), System.Text.Encoding.ASCII.GetBytes(certificatePem),
            UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
    }

    public void DeleteRoot(string id)
    {
        File.Delete(KeyPath(id));
        File.Delete(CertificatePath(id));
    }

    public static bool IsId(string id) => id.Length == 16 && id.All(char.IsAsciiHexDigitLower);

    public static string Truncate(string value) => value.Length <= 80 ? value : string.Concat(value.AsSpan(0, 80), "…");

    private TimeoutException Busy(TimeSpan timeout, string reason, Exception? inner) => new(
        $"Mesh CA: {LockPath} stayed locked for {timeout} (another registry replica is changing the CA, or holds the lock and hangs); " +
        $"MeshRegistry:CaLockTimeout sets how long to wait ({reason})", inner);

    private FileStream OpenLock()
    {
        var options = new FileStreamOptions { Mode = FileMode.OpenOrCreate, Access = FileAccess.ReadWrite, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        return new FileStream(LockPath, options);
    }

    /// <summary>
    /// Writes a file under a unique temporary name made with <paramref name="mode"/> (so a key is never readable by
    /// others, not even for a moment), then renames it over <paramref name="path"/>.
    /// </summary>
    private static void WriteAtomically(string path, byte[] contents, UnixFileMode mode)
    {
        var temporary = $"{path}.{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}.tmp";
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = mode;
        }

        try
        {
            using (var stream = new FileStream(temporary, options))
            {
                stream.Write(contents);
                stream.Flush(flushToDisk: true);
            }

            File.Move(temporary, path, overwrite: true);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }
}
