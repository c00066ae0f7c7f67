using Mesh.Client.Internal;

namespace Mesh.Client.Grpc;

/// <summary>
/// The read side of <see cref="GrpcDeadlineContent"/>: passes the transport's body through and turns the failure its
/// abort causes into the end of the body, once the deadline has passed.
/// </summary>
internal sealed class GrpcDeadlineStream(GrpcDeadlineContent owner, Stream inner) : ReadOnlyWrapperStream(inner)
{
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (owner.HasExpired)
        {
            return 0;
        }

        int read;
        try
        {
            read = await Inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception) when (owner.HasExpired && !cancellationToken.IsCancellationRequested)
        {
            return 0;
        }

        if (read == 0 && buffer.Length > 0)
        {
            owner.OnEnded();
        }

        return read;
    }

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count).GetAwaiter().GetResult();

    public override async ValueTask DisposeAsync()
    {
        await Inner.DisposeAsync().ConfigureAwait(false);
        await base.DisposeAsync().ConfigureAwait(false);
    }
}
