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
        // The "backend" here is this process read from /proc in 10 ms ticks: at least what the loop saw, to a tick or
        // two (other test classes run in this process at the same time, so there is no upper bound).
        (after.Backend - before.Backend).ShouldBeGreaterThanOrEqualTo(spent - TimeSpan.FromMilliseconds(30));
        after.Proxies.ShouldBe(TimeSpan.FromMilliseconds(3));
        var machine = after.Machine - before.Machine;
        machine.Busy.ShouldBeGreaterThanOrEqualTo(9); // at least the ticks this process spent
        (machine.Busy + machine.Idle + machine.Steal).ShouldBeGreaterThan(0);
    }

    [Fact]
    public void A_process_stat_line_gives_user_plus_kernel_ticks_counted_from_the_last_parenthesis()
    {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime ...
        // A command with spaces and parentheses, and non-zero fault counts beside utime so an off-by-one shows.
        const string stat = "4242 (dotnet (worker) 2) S 1 4242 4242 0 -1 4194560 1000 0 7 3 250 31 40 50 20 0 8 0 100 0 0";

        CpuProbe.ParseProcessTicks(stat).ShouldBe(281);
    }

    [Fact]
    public void The_machine_line_splits_busy_idle_and_steal()
    {
        // cpu user nice system idle iowait irq softirq steal guest guest_nice
        MachineTicks.Parse("cpu  100 2 30 4000 5 6 7 8 9 10").ShouldBe(new MachineTicks(Busy: 145, Idle: 4005, Steal: 8));
        MachineTicks.Parse("cpu  1 2 3 4").ShouldBe(new MachineTicks(Busy: 6, Idle: 4, Steal: 0)); // an older kernel's shorter line
        MachineTicks.Parse("cpu0 100 2 30 4000 5 6 7 8 9 10").ShouldBe(default); // one core, not the sum
        MachineTicks.Parse(null).ShouldBe(default);
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
