using System.Globalization;

namespace Mesh.LoadBenchmarks;

/// <summary>
/// Command line: <c>[--smoke] [--only a,b] [--concurrency 1,8,32] [--warmup s] [--duration s] [--rounds n] [--skip-balancer]
/// [--skip-retry] [--skip-grpc] [--profile] [--out file]</c>. <c>--only grpc</c> names the three gRPC variants.
/// </summary>
internal sealed class Settings
{
    public bool Smoke { get; private set; }

    public int[] Concurrency { get; private set; } = [1, 8, 32];

    /// <summary>The warm-up before each round of a cell (not measured).</summary>
    public TimeSpan Warmup { get; private set; } = TimeSpan.FromSeconds(1);

    /// <summary>The measured time of each round; a cell is measured for <see cref="Rounds"/> × this.</summary>
    public TimeSpan Duration { get; private set; } = TimeSpan.FromSeconds(3);

    /// <summary>Rounds per cell, alternating between the variants.</summary>
    public int Rounds { get; private set; } = 3;

    public HashSet<string>? Only { get; private set; }

    /// <summary>The profile run: direct, direct-rewrite, mesh-lean and mesh only, more rounds, no scenarios.</summary>
    public bool Profile { get; private set; }

    public bool Balancer { get; private set; } = true;

    public bool Retry { get; private set; } = true;

    /// <summary>Whether the gRPC variants run (they are in the full run and the smoke; <c>--skip-grpc</c> drops them).</summary>
    public bool Grpc { get; private set; } = true;

    public int BalancerEndpoints => 10;

    /// <summary>The healthy endpoints' delay; the slow one takes 10 times as long.</summary>
    public int BalancerDelayMs => 10;

    public int BalancerConcurrency => 8;

    public TimeSpan BalancerWarmup { get; private set; } = TimeSpan.FromSeconds(3);

    public TimeSpan BalancerDuration { get; private set; } = TimeSpan.FromSeconds(10);

    public int RetryRate { get; private set; } = 500;

    public TimeSpan RetryDuration { get; private set; } = TimeSpan.FromSeconds(20);

    /// <summary>Where the JSON results go; by default results/&lt;date&gt;-full.json beside the project (full runs only).</summary>
    public string? Output { get; private set; }

    /// <summary>The whole run's bound, whatever state it is in.</summary>
    public TimeSpan Deadline => Smoke ? TimeSpan.FromMinutes(5) : TimeSpan.FromMinutes(20);

    public static Settings? Parse(string[] args, TextWriter error)
    {
        var settings = new Settings();
        for (var i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            try
            {
                switch (args[i])
                {
                    case "--smoke":
                        settings.Smoke = true;
                        settings.Warmup = TimeSpan.FromSeconds(0.3);
                        settings.Duration = TimeSpan.FromSeconds(1);
                        settings.Rounds = 1;
                        settings.BalancerWarmup = TimeSpan.FromSeconds(0.5);
                        settings.BalancerDuration = TimeSpan.FromSeconds(1.5);
                        settings.RetryRate = 100;
                        settings.RetryDuration = TimeSpan.FromSeconds(2);
                        break;
                    case "--profile":
                        settings.Profile = true;
                        settings.Balancer = false;
                        settings.Retry = false;
                        settings.Rounds = 5;
                        settings.Concurrency = [1, 8];
                        break;
                    case "--only":
                        settings.Only = new HashSet<string>(Next().Split(',', StringSplitOptions.RemoveEmptyEntries), StringComparer.OrdinalIgnoreCase);
                        break;
                    case "--concurrency":
                        settings.Concurrency = Array.ConvertAll(Next().Split(','), s => int.Parse(s, CultureInfo.InvariantCulture));
                        break;
                    case "--warmup":
                        settings.Warmup = TimeSpan.FromSeconds(double.Parse(Next(), CultureInfo.InvariantCulture));
                        break;
                    case "--rounds":
                        settings.Rounds = int.Parse(Next(), CultureInfo.InvariantCulture);
                        break;
                    case "--duration":
                        settings.Duration = TimeSpan.FromSeconds(double.Parse(Next(), CultureInfo.InvariantCulture));
                        break;
                    case "--skip-balancer":
                        settings.Balancer = false;
                        break;
                    case "--skip-retry":
                        settings.Retry = false;
                        break;
                    case "--skip-grpc":
                        settings.Grpc = false;
                        break;
                    case "--out":
                        settings.Output = Next();
                        break;
                    default:
                        error.WriteLine($"unknown argument {args[i]}; see benchmarks/METHOD.md");
                        return null;
                }
            }
            catch (Exception e) when (e is ArgumentException or FormatException or OverflowException)
            {
                error.WriteLine($"{args[i]}: {e.Message}");
                return null;
            }
        }

        return settings;
    }

    public bool Includes(string name) => Only is null || Only.Contains(name);

    public bool Includes(Variant variant) => (!variant.Grpc || Grpc) && (Only is not null ? Only.Contains(variant.Name) || (variant.Grpc && Only.Contains("grpc"))
        : Smoke || Profile ? Smoke || variant.ProfileOnly || variant.Name is "direct" or "direct-rewrite" or "mesh"
        : !variant.ProfileOnly);
}
