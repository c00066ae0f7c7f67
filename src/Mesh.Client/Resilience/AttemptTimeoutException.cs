namespace Mesh.Client.Resilience;

/// <summary>
/// An attempt ran past the route's per-try timeout while the call still had time. It stays inside the call loop: a
/// retry follows, or the caller sees the call's timeout (HttpClient's shape, a cancellation with a TimeoutException).
/// </summary>
internal sealed class AttemptTimeoutException(string message, Exception? inner) : TimeoutException(message, inner);
