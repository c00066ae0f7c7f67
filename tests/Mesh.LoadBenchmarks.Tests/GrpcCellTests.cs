namespace Mesh.LoadBenchmarks.Tests;

public sealed class GrpcCellTests
{
    [Fact]
    public void A_round_whose_calls_all_reached_the_variants_listener_is_delivered()
    {
        var cell = new CellAccumulator();

        cell.RecordDelivery([3], Stats([5, 0, 0, 0]), Stats([5, 0, 0, 120]), completed: 120);
        cell.RecordDelivery([3], Stats([5, 0, 0, 120]), Stats([5, 0, 0, 200]), completed: 80);

        cell.DeliveryError.ShouldBeNull();
        cell.EndpointCalls.ShouldBe([200L]);
    }

    [Fact]
    public void Calls_served_on_another_listener_fail_the_cell_even_when_the_totals_match()
    {
        // What a meshed call that skipped the mesh and went straight to the direct listener would look like.
        var cell = new CellAccumulator();

        cell.RecordDelivery([3], Stats([0, 0, 0, 0]), Stats([0, 10, 0, 90]), completed: 100);

        cell.DeliveryError.ShouldNotBeNull();
        cell.DeliveryError.ShouldContain("10 on others");
    }

    [Fact]
    public void Fewer_calls_served_than_completed_fail_the_cell()
    {
        var cell = new CellAccumulator();

        cell.RecordDelivery([1], Stats([0, 0]), Stats([0, 99]), completed: 100);

        cell.DeliveryError.ShouldNotBeNull();
    }

    [Theory]
    [InlineData(new[] { "--smoke" }, true)]
    [InlineData(new[] { "--smoke", "--skip-grpc" }, false)]
    [InlineData(new string[0], true)]
    [InlineData(new[] { "--skip-grpc" }, false)]
    [InlineData(new[] { "--only", "grpc" }, true)]
    [InlineData(new[] { "--only", "grpc-mesh" }, true)]
    [InlineData(new[] { "--only", "grpc", "--skip-grpc" }, false)]
    [InlineData(new[] { "--only", "mesh" }, false)]
    [InlineData(new[] { "--profile" }, false)]
    public void The_gRPC_mesh_variant_runs_in_the_full_run_and_the_smoke_unless_skipped(string[] args, bool included)
    {
        var settings = Settings.Parse(args, TextWriter.Null)!;
        var grpcMesh = Array.Find(Variants.All, v => v.Name == "grpc-mesh")!;

        settings.Includes(grpcMesh).ShouldBe(included);
    }

    [Fact]
    public void The_HTTP_variants_do_not_answer_to_the_grpc_name()
    {
        var settings = Settings.Parse(["--only", "grpc"], TextWriter.Null)!;

        Array.FindAll(Variants.All, settings.Includes).Select(v => v.Name).ShouldBe(["grpc-direct", "grpc-mesh", "grpc-nginx"]);
    }

    private static StatsReply Stats(long[] calls)
    {
        var stats = new StatsReply();
        stats.Calls.Add(calls);
        stats.Connections.Add(new long[calls.Length]);
        return stats;
    }
}
