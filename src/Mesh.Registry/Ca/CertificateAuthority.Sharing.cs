namespace Mesh.Registry.Ca;

/// <summary>
/// Following the folder: a replica re-reads it when a <see cref="FileSystemWatcher"/> sees <c>ca.json</c> change, and
/// every <c>MeshRegistry:CaReloadInterval</c> besides, because watchers miss events on some mounts (network and
/// container file systems). A re-read that finds a change another replica made takes it: the trust bundle, the roots
/// list and the signing root follow, and so does the registry's own server certificate, which checks the active root
/// on every handshake.
/// </summary>
internal sealed partial class CertificateAuthority
{
    private FileSystemWatcher? _watcher;
    private ITimer? _reloadTimer;
    private int _reloadRequests;

    /// <summary>Re-reads of the folder finished so far, whether or not they found a change (for tests and diagnostics).</summary>
    public int Reloads { get; private set; }

    /// <summary>
    /// Whether changes to the folder are noticed as they happen; the periodic re-read goes on either way. Off, a replica
    /// behaves as on a mount whose watcher sees nothing.
    /// </summary>
    public bool WatchesFolder
    {
        get => _watcher is { EnableRaisingEvents: true };
        set
        {
            if (_watcher is not null)
            {
                _watcher.EnableRaisingEvents = value;
            }
        }
    }

    private void StartFollowing()
    {
        _reloadTimer = _time.CreateTimer(static state => ((CertificateAuthority)state!).RequestReload(), this, _options.CaReloadInterval,
            _options.CaReloadInterval);
        try
        {
            var watcher = new FileSystemWatcher(Directory)
            {
                IncludeSubdirectories = false,
                NotifyFilter = NotifyFilters.FileName | NotifyFilters.LastWrite | NotifyFilters.Size,
            };
            watcher.Changed += OnFolderEvent;
            watcher.Created += OnFolderEvent;
            watcher.Deleted += OnFolderEvent;
            watcher.Renamed += OnFolderEvent;
            watcher.Error += (_, e) =>
            {
                // Its buffer overflowed, or the watch broke: what it missed is read now.
                LogWatcherError(_logger, Directory, e.GetException().Message);
                RequestReload();
            };
            watcher.EnableRaisingEvents = true;
            _watcher = watcher;
        }
        catch (Exception ex) when (ex is IOException or PlatformNotSupportedException or ArgumentException or UnauthorizedAccessException)
        {
            // Out of inotify watches, or a file system that has none: the periodic re-read still follows the folder.
            LogWatcherError(_logger, Directory, ex.Message);
        }
    }

    private void StopFollowing()
    {
        _watcher?.Dispose();
        _reloadTimer?.Dispose();
    }

    private void OnFolderEvent(object sender, FileSystemEventArgs e)
    {
        // Only the state says what the CA is; the roots' files are written before it names them.
        if (string.Equals(e.Name, CaFolder.StateFile, StringComparison.Ordinal))
        {
            RequestReload();
        }
    }

    /// <summary>Re-reads the folder soon; requests made while a re-read runs are served by one more after it.</summary>
    private void RequestReload()
    {
        if (Interlocked.Increment(ref _reloadRequests) == 1)
        {
            _ = Task.Run(ReloadAsync);
        }
    }

    private async Task ReloadAsync()
    {
        while (true)
        {
            var served = Volatile.Read(ref _reloadRequests);
            if (_stopping.IsCancellationRequested)
            {
                return;
            }

            try
            {
                using (await _folder.LockAsync(_options.CaLockTimeout, static () => { }, _stopping.Token))
                {
                    ReadFolder();
                }
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                // Whatever failed, this loop must go on: the CA in memory still serves; the next event or interval tries again.
                LogReloadFailed(_logger, Directory, ex.Message);
            }

            Reloads++;
            if (Interlocked.Add(ref _reloadRequests, -served) == 0)
            {
                return;
            }
        }
    }

    [LoggerMessage(47, LogLevel.Warning, "Mesh CA: could not re-read {Directory}; serving the CA as last read until the next try: {Error}")]
    private static partial void LogReloadFailed(ILogger logger, string directory, string error);

    [LoggerMessage(48, LogLevel.Warning, "Mesh CA: watching {Directory} failed ({Error}); changes other replicas make are read every MeshRegistry:CaReloadInterval")]
    private static partial void LogWatcherError(ILogger logger, string directory, string error);
}
