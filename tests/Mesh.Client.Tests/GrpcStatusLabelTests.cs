using Mesh.Client.Telemetry;

namespace Mesh.Client.Tests;

/// <summary>The grpc_status label holds gRPC's own codes only: a peer writes that header, so it must not mint series.</summary>
public sealed class GrpcStatusLabelTests
{
    [Theory]
    [InlineData("", "")]
    [InlineData("0", "0")]
    [InlineData("14", "14")]
    [InlineData("16", "16")]
    [InlineData("17", "unknown")]
    [InlineData("01", "unknown")]
    [InlineData("-1", "unknown")]
    [InlineData("999", "unknown")]
    [InlineData("ok", "unknown")]
    [InlineData("1 ", "unknown")]
    public void Only_codes_0_to_16_become_labels(string header, string label) =>
        MeshTelemetry.GrpcStatusText(header).ShouldBe(label);
}
