using System.Runtime.CompilerServices;

namespace Mesh.Client.Http;

/// <summary>
/// The read side of <see cref="GrpcResponseContent"/>: passes every read through and ends the call when the body
/// ends (a read of a non-empty buffer that returns nothing), fails, or is disposed.
/// </summary>
internal sealed class GrpcResponseStream(Stream inner, GrpcResponseContent content) : Stream
{
    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        int read;
        try
        {
            read = inner.Read(buffer);
        }
        catch (Exception ex)
        {
            content.End(ex);
            throw;
        }

        return Ended(read, buffer.Length);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ValueTask<int> pending;
        try
        {
            pending = inner.ReadAsync(buffer, cancellationToken);
        }
        catch (Exception ex)
        {
            content.End(ex);
            throw;
        }

        // A message already buffered by the transport costs nothing more; a read that waits for the network costs a
        // pooled box rather than a new state machine per read.
        return pending.IsCompletedSuccessfully ? new ValueTask<int>(Ended(pending.Result, buffer.Length)) : AwaitReadAsync(pending, buffer.Length);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<int> AwaitReadAsync(ValueTask<int> pending, int requested)
    {
        int read;
        try
        {
            read = await pending.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            content.End(ex);
            throw;
        }

        return Ended(read, requested);
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
            content.End(error: null);
        }

        base.Dispose(disposing);
    }

    private int Ended(int read, int requested)
    {
        if (read == 0 && requested > 0)
        {
            content.End(error: null);
        }

        return read;
    }
}
