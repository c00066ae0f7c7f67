namespace Mesh.Client.Tests.Http;

/// <summary>
/// Tests that change process-wide state (<see cref="System.Diagnostics.DistributedContextPropagator.Current"/>) run
/// in this collection, alone: xunit runs it after the parallel collections, so no other test sees the change.
/// </summary>
[CollectionDefinition(nameof(ProcessWideStateTests), DisableParallelization = true)]
public sealed class ProcessWideStateTests;
