using System.Diagnostics;
using System.Globalization;

namespace Mesh.LoadBenchmarks;

/// <summary>
/// CPU time read at the edges of a measured window: the load generator's own, split into user and kernel time; the
/// backend's; the variant's proxies'; and the whole machine's from <c>/proc/stat</c> (every process, interrupts, and
/// the time the hypervisor gave to other guests, "steal"). At 32 requests in flight the two cores are saturated, so
/// a variant's latency follows the CPU of everything a request touches, not just the client's.
/// </summary>
internal readonly record struct CpuReading(TimeSpan ClientUser, TimeSpan ClientKernel, TimeSpan Backend, TimeSpan Proxies, MachineTicks Machine);

/// <summary>The machine's CPU time in clock ticks (10 ms) summed over all cores, from the <c>cpu</c> line of <c>/proc/stat</c>.</summary>
internal readonly record struct MachineTicks(long Busy, long Idle, long Steal)
{
    public static MachineTicks Read()
    {
        try
        {
            using var reader = new StreamReader("/proc/stat");
            return Parse(reader.ReadLine());
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return default;
        }
    }

    /// <summary>The first line of <c>/proc/stat</c>: <c>cpu user nice system idle iowait irq softirq steal guest guest_nice</c>.</summary>
    internal static MachineTicks Parse(string? line)
    {
        if (line is null || !line.StartsWith("cpu ", StringComparison.Ordinal))
        {
            return default;
        }

        // Guest time is already counted in user time; older kernels end the line earlier.
        var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        long Field(int i) => fields.Length > i ? long.Parse(fields[i], CultureInfo.InvariantCulture) : 0;
        return new MachineTicks(
            Busy: Field(1) + Field(2) + Field(3) + Field(6) + Field(7),
            Idle: Field(4) + Field(5),
            Steal: Field(8));
    }

    public static MachineTicks operator -(MachineTicks a, MachineTicks b) => new(a.Busy - b.Busy, a.Idle - b.Idle, a.Steal - b.Steal);

    public static MachineTicks operator +(MachineTicks a, MachineTicks b) => new(a.Busy + b.Busy, a.Idle + b.Idle, a.Steal + b.Steal);
}

/// <summary>Reads a <see cref="CpuReading"/> for one variant: its backend process and its proxies.</summary>
internal sealed class CpuProbe(int backendPid, Func<TimeSpan> proxies)
{
    /// <summary>For runs where only the load generator's own CPU is wanted (the balancer's).</summary>
    public static CpuProbe ClientOnly { get; } = new(0, static () => TimeSpan.Zero);

    public CpuReading Read(Process self)
    {
        self.Refresh();
        return new CpuReading(self.UserProcessorTime, self.PrivilegedProcessorTime,
            backendPid == 0 ? TimeSpan.Zero : ProcessCpu(backendPid), proxies(), MachineTicks.Read());
    }

    /// <summary>
    /// User and kernel time of one process from <c>/proc/&lt;pid&gt;/stat</c>, in clock ticks; 0 once it is gone (a
    /// backend or proxy that died fails its cell's requests, which fails the run).
    /// </summary>
    public static long ProcessTicks(int pid)
    {
        try
        {
            return ParseProcessTicks(File.ReadAllText($"/proc/{pid}/stat"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return 0;
        }
    }

    /// <summary>
    /// <c>pid (comm) state ppid ...</c>: the command may hold spaces and parentheses, so the fields are counted from
    /// the last ')'. After it: state(0) ppid(1) ... utime(11) stime(12), fields 14 and 15 of proc(5).
    /// </summary>
    internal static long ParseProcessTicks(string stat)
    {
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
    }

    public static TimeSpan ProcessCpu(int pid) => Ticks(ProcessTicks(pid));

    // USER_HZ, the unit of /proc's CPU times, is 100 on every Linux architecture .NET runs on (the kernel's ABI).
    public static TimeSpan Ticks(long ticks) => TimeSpan.FromSeconds(ticks / 100.0);
}
