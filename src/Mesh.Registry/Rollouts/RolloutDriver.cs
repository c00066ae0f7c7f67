namespace Mesh.Registry.Rollouts;

/// <summary>
/// Ticks the <see cref="RolloutEngine"/> every <see cref="Period"/> on the registry's clock. Every replica ticks (so
/// each one's gauges are current); only the one the store lets drive rollouts moves them on.
/// </summary>
internal sealed class RolloutDriver(RolloutEngine engine, TimeProvider time, ILogger<RolloutDriver> logger) : BackgroundService
{
    public static readonly TimeSpan Period = TimeSpan.FromSeconds(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Period, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    await engine.TickAsync();
                }
#pragma warning disable CA1031 // the store unreachable for a moment: the next tick tries again
                catch (Exception ex) when (ex is not OperationCanceledException)
#pragma warning restore CA1031
                {
                    logger.LogWarning(ex, "Rollouts could not be looked at; trying again at the next tick");
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // The registry is stopping.
        }
    }
}
