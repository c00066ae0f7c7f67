namespace Mesh.Client.Resilience;

internal enum FailureKind
{
    Other,
    NotSent,
    ConnectFailure,
    RefusedStream,
    Reset,
    PerTryTimeout,
}
