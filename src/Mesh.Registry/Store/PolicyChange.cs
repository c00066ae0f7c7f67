namespace Mesh.Registry.Store;

/// <summary>
/// A policy write: the new document (canonical JSON, already validated; null deletes the policy), the version it
/// restores when it is a rollback, and the version the writer expects to be current (null: whichever is).
/// </summary>
internal sealed record PolicyChange(string? Document, long? RollbackOf = null, long? ExpectedVersion = null);
