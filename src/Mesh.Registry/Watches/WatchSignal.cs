namespace Mesh.Registry.Watches;

/// <summary>The one-shot signal a change completes to wake the watches parked on it; its continuations never run on the writer's thread.</summary>
internal static class WatchSignal
{
    public static TaskCompletionSource New() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
