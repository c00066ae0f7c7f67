namespace Mesh.Registry.Ca;

/// <summary>The CA folder's lock while held: the open, exclusively shared lock file and this process's turn at it.</summary>
internal sealed class CaFolderLock(FileStream file, SemaphoreSlim turn) : IDisposable
{
    private int _released;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0)
        {
            file.Dispose();
            turn.Release();
        }
    }
}
