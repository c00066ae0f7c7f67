using System.Runtime.CompilerServices;
using Mesh.Client.Internal;

namespace Mesh.Client.Http;

/// <summary>
/// The read side of <see cref="GrpcResponseContent"/>: passes every read through and ends the call when the body
/// ends (a read of a non-empty buffer that returns nothing), fails, or is disposed.
/// </summary>
internal sealed class GrpcResponseStream(Stream inner, GrpcResponseContent content) : ReadOnlyWrapperStream(inner)
{
    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        int read;
        try
        {
            read = Inner.Read(buffer);
        }
        catch (Exception ex)
        {
            content.End(ex);
            throw;
        }

        return Ended(read, buffer.Length);
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ValueTask<int> pending;
        try
        {
            pending = Inner.ReadAsync(buffer, cancellationToken);
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

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing)
        {
            content.End(error: null);
        }
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
