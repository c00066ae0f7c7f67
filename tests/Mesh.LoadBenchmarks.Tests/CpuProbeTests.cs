using System.Diagnostics;

namespace Mesh.LoadBenchmarks.Tests;

public sealed class CpuProbeTests
{
    [Fact]
    public void A_process_and_the_machine_are_charged_the_CPU_they_spent()
    {
        using var self = Process.GetCurrentProcess();
        var probe = new CpuProbe(Environment.ProcessId, static () => TimeSpan.FromMilliseconds(3));
        var before = probe.Read(self);

        // Burn at least 100 ms of this process's CPU (10 clock ticks), whatever else the machine does.
        var deadline = Stopwatch.StartNew();
        var spent = TimeSpan.Zero;
        while (spent < TimeSpan.FromMilliseconds(100) && deadline.Elapsed < TimeSpan.FromSeconds(30))
        {
            for (var i = 0; i < 1_000_000; i++)
            {
                Volatile.Write(ref s_sink, s_sink + i);
            }

            self.Refresh();
            spent = self.TotalProcessorTime - before.ClientUser - before.ClientKernel;
        }

        var after = probe.Read(self);

        (after.ClientUser - before.ClientUser).ShouldBeGreaterThan(TimeSpan.FromMilliseconds(50));
        // The "backend" here is this process read from /proc in 10 ms ticks: the same time, to a tick or two.
        (after.Backend - before.Backend).ShouldBeInRange(spent - TimeSpan.FromMilliseconds(30), spent + TimeSpan.FromMilliseconds(200));
        after.Proxies.ShouldBe(TimeSpan.FromMilliseconds(3));
        var machine = after.Machine - before.Machine;
        machine.Busy.ShouldBeGreaterThanOrEqualTo(9); // at least the ticks this process spent
        (machine.Busy + machine.Idle + machine.Steal).ShouldBeGreaterThan(0);
    }

    [Fact]
    public void A_process_that_is_gone_has_no_CPU()
    {
        CpuProbe.ProcessTicks(int.MaxValue).ShouldBe(0);
        using var self = Process.GetCurrentProcess();
        CpuProbe.ClientOnly.Read(self).Backend.ShouldBe(TimeSpan.Zero);
    }

    private static long s_sink;
}
