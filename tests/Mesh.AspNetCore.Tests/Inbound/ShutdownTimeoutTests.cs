using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Mesh.AspNetCore.Tests.Inbound;

/// <summary>
/// The host's shutdown timeout bounds the whole stop, the drain included: AddMesh() raises it to deregistration
/// (5 s) + DrainDelay + 5 s for the requests in flight when the server stops, and never lowers it.
/// </summary>
public sealed class ShutdownTimeoutTests
{
    private static async Task<TimeSpan> ShutdownTimeoutAsync(Dictionary<string, string?> mesh, TimeSpan? configured = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(mesh.ToDictionary(p => "Mesh:" + p.Key, p => p.Value));
        if (configured is { } timeout)
        {
            builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = timeout);
        }

        builder.Services.AddMesh();
        await using var app = builder.Build();
        return app.Services.GetRequiredService<IOptions<HostOptions>>().Value.ShutdownTimeout;
    }

    private static Dictionary<string, string?> Registered(string? drainDelay) => new()
    {
        ["Service:Name"] = "reviews",
        ["Registry:Url"] = "http://127.0.0.1:7400",
        ["Registry:CacheDirectory"] = string.Empty,
        ["Registry:DrainDelay"] = drainDelay,
    };

    [Fact]
    public async Task A_long_drain_delay_raises_the_shutdown_timeout_to_cover_deregistration_the_drain_and_requests_in_flight() =>
        (await ShutdownTimeoutAsync(Registered("00:01:00"))).ShouldBe(TimeSpan.FromSeconds(70));

    [Fact]
    public async Task A_shutdown_timeout_already_long_enough_is_kept()
    {
        (await ShutdownTimeoutAsync(Registered(null))).ShouldBe(TimeSpan.FromSeconds(30), "the default 2 s drain fits the default 30 s");
        (await ShutdownTimeoutAsync(Registered("00:01:00"), TimeSpan.FromMinutes(3))).ShouldBe(TimeSpan.FromMinutes(3));
    }

    [Fact]
    public async Task An_app_that_does_not_register_keeps_its_shutdown_timeout()
    {
        var notRegistering = Registered("00:01:00");
        notRegistering["Registry:Register"] = "false";
        (await ShutdownTimeoutAsync(notRegistering, TimeSpan.FromSeconds(10))).ShouldBe(TimeSpan.FromSeconds(10));
        (await ShutdownTimeoutAsync(new() { ["Registry:DrainDelay"] = "00:01:00" }, TimeSpan.FromSeconds(10))).ShouldBe(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Invalid_mesh_options_leave_the_shutdown_timeout_and_still_fail_the_start()
    {
        var invalid = Registered("-00:00:01");
        (await ShutdownTimeoutAsync(invalid)).ShouldBe(TimeSpan.FromSeconds(30));

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(invalid.ToDictionary(p => "Mesh:" + p.Key, p => p.Value));
        builder.Services.AddMesh();
        await using var app = builder.Build();
        var error = await Should.ThrowAsync<OptionsValidationException>(() => app.StartAsync());
        error.Message.ShouldContain("Mesh:Registry:DrainDelay");
    }
}
