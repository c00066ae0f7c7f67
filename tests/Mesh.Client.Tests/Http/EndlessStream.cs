namespace Mesh.Client.Tests.Http;

/// <summary>
/// A response body that yields <paramref name="first"/> and then waits for more until it is disposed, as the body of
/// a server stream whose server went quiet does; disposing it fails the waiting read, as an aborted HTTP/2 stream does.
/// </summary>
internal sealed class EndlessStream(byte[] first) : Stream
{
    private readonly CancellationTokenSource _disposed = new();
    private bool _sentFirst;

    public bool IsDisposed => _disposed.IsCancellationRequested;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (!_sentFirst)
        {
            _sentFirst = true;
            first.CopyTo(buffer);
            return first.Length;
        }

        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposed.Token);
        try
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, linked.Token);
        }
        catch (OperationCanceledException) when (_disposed.IsCancellationRequested)
        {
            throw new IOException("The stream was aborted.");
        }

        return 0;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed.IsCancellationRequested)
        {
            _disposed.Cancel();
        }

        base.Dispose(disposing);
    }
}
