namespace Mesh.LoadBenchmarks;

/// <summary>One cell's figures the chart draws; <c>null</c> where the run measured no floor to subtract.</summary>
internal sealed record ChartCell(string Variant, int Concurrency, double? AddedP50Us, double? AddedP99Us, double? AddedMachineCpuUs);
