using Mesh.Client.LoadBalancing;
using Mesh.Client.OutlierDetection;

namespace Mesh.Client.Http;

/// <summary>
/// One request of a hedged group (<see cref="HedgedAttempts"/>): its own copy of the request, its own cancellation
/// and its own bookkeeping on its endpoint (load, breaker, outliers), reported by the request itself when it ends, so
/// a hedge that outlives its group (a loser) still settles its endpoint's books.
/// </summary>
internal sealed class HedgedAttempt
{
    private readonly CancellationTokenSource _cancel;
    private AttemptTracker _tracker;
    private int _abandoned;

    public HedgedAttempt(HttpRequestMessage request, in PickResult pick, OutlierDetector outliers, TimeProvider time, CancellationToken attemptToken)
    {
        Request = request;
        Endpoint = pick.Endpoint!;
        _tracker = new AttemptTracker(outliers, time);
        _tracker.Picked(pick);
        _cancel = CancellationTokenSource.CreateLinkedTokenSource(attemptToken);
    }

    /// <summary>The copy of the caller's request this hedge sends: concurrent sends of one message are not allowed.</summary>
    public HttpRequestMessage Request { get; }

    public EndpointState Endpoint { get; }

    /// <summary>The answer, or the failure, of the request; set by <see cref="Start"/>.</summary>
    public Task<HttpResponseMessage> Task { get; private set; } = null!;

    /// <summary>Whether the group has taken this hedge's outcome (or given it up); a pending one is still in flight.</summary>
    public bool Settled { get; set; }

    /// <summary>The group gave up on this hedge: another won, or the group ended.</summary>
    private bool IsAbandoned => Volatile.Read(ref _abandoned) != 0;

    /// <summary>Sends the request from <paramref name="startTimestamp"/> on (the endpoint counts it in flight from now).</summary>
    public void Start(MeshHandler handler, long startTimestamp, CancellationToken unjudgedToken)
    {
        _tracker.Sending(startTimestamp);
        Task = SendAsync(handler, unjudgedToken);
    }

    /// <summary>
    /// Cancels a hedge still in flight and disposes whatever it brings back: its response is nobody's now. Its
    /// cancellation is the group's doing, not the endpoint's, so it is not counted as the endpoint's failure.
    /// </summary>
    public void Abandon()
    {
        Volatile.Write(ref _abandoned, 1);
        _cancel.Cancel();
        Task.ContinueWith(static (task, state) =>
        {
            if (task.IsCompletedSuccessfully)
            {
                task.Result.Dispose();
            }
            else
            {
                _ = task.Exception; // observed: a cancelled loser's failure is expected
            }

            ((HedgedAttempt)state!)._cancel.Dispose();
        }, this, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>The group took this hedge's outcome: its cancellation is not needed any more.</summary>
    public void Release() => _cancel.Dispose();

    private async Task<HttpResponseMessage> SendAsync(MeshHandler handler, CancellationToken unjudgedToken)
    {
        try
        {
            var response = await handler.SendToInnerAsync(Request, _cancel.Token).ConfigureAwait(false);
            _tracker.Completed((int)response.StatusCode);
            return response;
        }
        catch (Exception ex)
        {
            // A per-try or route timeout judges the endpoint (too slow), as for any attempt; a loser cancelled because
            // another hedge won, a caller gone, or a deadline the caller chose says nothing about it.
            _tracker.Failed(callerGaveUp: ex is OperationCanceledException && (IsAbandoned || unjudgedToken.IsCancellationRequested));
            throw;
        }
    }
}
