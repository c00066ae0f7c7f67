namespace Mesh.Client.Resilience;

/// <summary>An attempt ran past the route's per-try timeout while the call still had time.</summary>
internal sealed class AttemptTimeoutException(string message, Exception? inner) : TimeoutException(message, inner);
