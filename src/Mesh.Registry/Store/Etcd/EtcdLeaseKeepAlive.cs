using System.Collections.Concurrent;
using System.Threading.Channels;
using Etcdserverpb;
using Grpc.Core;

namespace Mesh.Registry.Store.Etcd;

/// <summary>
/// etcd's lease keep-alive is a stream, not a call: one stream for the whole registry carries every keep-alive, and
/// <see cref="KeepAliveAsync"/> waits for the answer to its lease (its remaining TTL; 0 when the lease is gone).
/// </summary>
internal sealed class EtcdLeaseKeepAlive : IDisposable
{
    private readonly EtcdConnection _connection;
    private readonly ILogger _logger;
    private readonly CancellationToken _closing;
    private readonly Channel<long> _requests = Channel.CreateUnbounded<long>(new UnboundedChannelOptions { SingleReader = true });
    private readonly ConcurrentDictionary<long, TaskCompletionSource<long>> _waiting = new();
    private readonly Task _loop;

    public EtcdLeaseKeepAlive(EtcdConnection connection, ILogger logger, CancellationToken closing)
    {
        _connection = connection;
        _logger = logger;
        _closing = closing;
        _loop = Task.Run(RunAsync, CancellationToken.None);
    }

    /// <summary>Sends a keep-alive without waiting for its answer.</summary>
    public void Send(long lease) => _requests.Writer.TryWrite(lease);

    /// <summary>Keeps <paramref name="lease"/> alive and returns its TTL in seconds as etcd answered (0: the lease is gone).</summary>
    public async Task<long> KeepAliveAsync(long lease)
    {
        var answer = _waiting.GetOrAdd(lease, _ => new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously));
        _requests.Writer.TryWrite(lease);
        try
        {
            return await answer.Task.WaitAsync(_connection.Timeout, TimeProvider.System, _closing).ConfigureAwait(false);
        }
        catch (TimeoutException ex)
        {
            _waiting.TryRemove(new KeyValuePair<long, TaskCompletionSource<long>>(lease, answer));
            throw new RegistryStoreUnavailableException($"etcd did not answer a lease keep-alive within {_connection.Timeout.TotalSeconds:0.#} s", ex);
        }
    }

    public void Dispose()
    {
        _requests.Writer.TryComplete();
        try
        {
            _loop.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
            // Ended by the store closing.
        }
    }

    private async Task RunAsync()
    {
        while (!_closing.IsCancellationRequested)
        {
            try
            {
                using var call = _connection.Raw.LeaseClient.LeaseKeepAlive(cancellationToken: _closing);
                var reading = ReadAsync(call.ResponseStream);
                while (await _requests.Reader.WaitToReadAsync(_closing).ConfigureAwait(false))
                {
                    while (_requests.Reader.TryRead(out var lease))
                    {
                        await call.RequestStream.WriteAsync(new LeaseKeepAliveRequest { ID = lease }, _closing).ConfigureAwait(false);
                    }

                    if (reading.IsCompleted)
                    {
                        await reading.ConfigureAwait(false);
                        break;
                    }
                }

                return;
            }
            catch (OperationCanceledException) when (_closing.IsCancellationRequested)
            {
                return;
            }
#pragma warning disable CA1031 // a broken stream is opened again; a waiter whose request was lost times out and its caller tries again
            catch (Exception ex)
#pragma warning restore CA1031
            {
                _logger.LogDebug(ex, "The etcd lease keep-alive stream ended; opening it again");
                try
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(200), TimeProvider.System, _closing).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private async Task ReadAsync(IAsyncStreamReader<LeaseKeepAliveResponse> responses)
    {
        await foreach (var response in responses.ReadAllAsync(_closing).ConfigureAwait(false))
        {
            if (_waiting.TryRemove(response.ID, out var answer))
            {
                answer.TrySetResult(response.TTL);
            }
        }

        throw new IOException("etcd closed the lease keep-alive stream");
    }
}
