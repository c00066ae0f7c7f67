namespace Mesh.Registry.Store;

/// <summary>
/// The store could not be reached or did not answer in time (etcd without a quorum, say). The request that needed it
/// answers 503 with the message, which names the cause; a write that failed this way may or may not have been applied.
/// </summary>
internal sealed class RegistryStoreUnavailableException(string message, Exception? inner = null) : Exception(message, inner);
