using System.Globalization;

namespace Mesh.Registry.Benchmarks;

/// <summary>
/// What one run does. <see cref="Full"/> is the load the registry is sized for; <see cref="Smoke"/> is a few seconds
/// for CI.
/// </summary>
internal sealed record Settings
{
    public string Mode { get; init; } = "full";

    /// <summary>Where the registry keeps its state: <c>sqlite</c> (one process, its own file) or <c>etcd</c> (replicas on a 3-member cluster).</summary>
    public string Store { get; init; } = "sqlite";

    /// <summary>Registry processes; more than one only with etcd, all on the same prefix and CA folder.</summary>
    public int Replicas { get; init; } = 1;

    /// <summary>Members of the etcd cluster the benchmark starts on loopback (<c>--store etcd</c>).</summary>
    public int EtcdMembers { get; init; } = 3;

    /// <summary>The preset the run started from, if any (<see cref="Presets"/>).</summary>
    public string? Preset { get; init; }

    /// <summary>Services, each with <see cref="InstancesPerService"/> instances (500 × 20 = 10,000).</summary>
    public int Services { get; init; } = 500;

    public int InstancesPerService { get; init; } = 20;

    /// <summary>Long-poll watchers per service (500 × 4 = 2,000).</summary>
    public int WatchersPerService { get; init; } = 4;

    /// <summary>The lease of every loaded instance; long enough that nothing expires during a run.</summary>
    public int TtlSeconds { get; init; } = 600;

    /// <summary>The <c>wait</c> of every long poll.</summary>
    public string WatchWait { get; init; } = "30s";

    /// <summary>Registrations in flight while loading the instances.</summary>
    public int LoadConcurrency { get; init; } = 32;

    /// <summary>Changes made while the registry is otherwise quiet (watchers parked, no heartbeats).</summary>
    public int QuietChanges { get; init; } = 200;

    /// <summary>Changes made during the heartbeat phase, spread over it.</summary>
    public int LoadedChanges { get; init; } = 200;

    public TimeSpan ChangeSpacing { get; init; } = TimeSpan.FromMilliseconds(50);

    /// <summary>Closed-loop renewers: each sends its next renewal when the previous one is answered.</summary>
    public int Renewers { get; init; } = 64;

    public TimeSpan HeartbeatWarmup { get; init; } = TimeSpan.FromSeconds(3);

    public TimeSpan HeartbeatDuration { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>How long watchers get to see a change after the last one was made, before it counts as missed.</summary>
    public TimeSpan CatchUp { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The whole run is cancelled after this, whatever state it is in.</summary>
    public TimeSpan Deadline { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>The registry's Mesh.Registry.dll; found next to this build when not given.</summary>
    public string? RegistryDll { get; init; }

    /// <summary>Where to write the results as JSON, if anywhere.</summary>
    public string? JsonPath { get; init; }

    /// <summary>Exit non-zero when a goal is missed, not only when something broke.</summary>
    public bool CheckGoals { get; init; }

    /// <summary>The memory goal, per registry process (VmHWM).</summary>
    public long MemoryGoalBytes { get; init; } = 300_000_000; // 300 MB, decimal (the stricter reading)

    /// <summary>How long the watchers get to start and park, all of them.</summary>
    public TimeSpan WatcherStartTimeout { get; init; } = TimeSpan.FromSeconds(60);

    public bool IsEtcd => Store == "etcd";

    public int Instances => Services * InstancesPerService;

    public int Watchers => Services * WatchersPerService;

    public static Settings Full { get; } = new();

    /// <summary>
    /// Named scales: <c>sqlite-10k</c> is <see cref="Full"/>; <c>sqlite-100k</c> ten times the instances over four times
    /// the services, with five times the watchers and a 1 GB memory goal; <c>etcd-10k</c> the full run's scale on two
    /// replicas sharing a 3-member etcd cluster.
    /// </summary>
    public static IReadOnlyDictionary<string, Settings> Presets { get; } = new Dictionary<string, Settings>(StringComparer.Ordinal)
    {
        ["sqlite-10k"] = new() { Preset = "sqlite-10k" },
        ["sqlite-100k"] = new()
        {
            Preset = "sqlite-100k",
            Services = 2000,
            InstancesPerService = 50,
            WatchersPerService = 5,
            MemoryGoalBytes = 1_000_000_000,
            WatcherStartTimeout = TimeSpan.FromSeconds(120),
            Deadline = TimeSpan.FromMinutes(20),
        },
        ["etcd-10k"] = new()
        {
            Preset = "etcd-10k",
            Store = "etcd",
            Replicas = 2,

            // A renewal is answered once a quorum has fsynced its batch (tens of ms): 64 renewers waiting for their
            // answers measure that latency, not the replicas' capacity; 10,000 instances renew independently.
            Renewers = 512,
            Deadline = TimeSpan.FromMinutes(15),
        },
    };

    public static Settings Smoke { get; } = new()
    {
        Mode = "smoke",
        Services = 10,
        InstancesPerService = 5,
        WatchersPerService = 2,
        LoadConcurrency = 8,
        QuietChanges = 10,
        LoadedChanges = 10,
        ChangeSpacing = TimeSpan.FromMilliseconds(50),
        Renewers = 8,
        HeartbeatWarmup = TimeSpan.FromMilliseconds(500),
        HeartbeatDuration = TimeSpan.FromSeconds(2),
        CatchUp = TimeSpan.FromSeconds(5),
        Deadline = TimeSpan.FromMinutes(2),
    };

    public const string Usage = """
        Mesh.Registry.Benchmarks: issue 3's registry load benchmark, against the real registry in its own process.

          dotnet run -c Release --project benchmarks/Mesh.Registry.Benchmarks              full run (10,000 instances, 2,000 watchers)
          dotnet run -c Release --project benchmarks/Mesh.Registry.Benchmarks -- --smoke   a few seconds, for CI
          dotnet run -c Release --project benchmarks/Mesh.Registry.Benchmarks -- --preset NAME
              sqlite-10k   the full run (the default)
              sqlite-100k  100,000 instances over 2,000 services, 10,000 watchers; memory goal 1 GB
              etcd-10k     the full run's scale on 2 registry replicas sharing a 3-member etcd cluster on loopback, 512 renewers

        options (after --smoke or --preset, they change that run):
          --store sqlite|etcd  etcd: starts a 3-member etcd cluster (the etcd binary on PATH) and --replicas registries on it
          --replicas N         registry processes (etcd only; default 2 with etcd); watchers, renewers and changes alternate between them
          --services N  --instances-per-service N  --watchers-per-service N  --renewers N
          --quiet-changes N  --loaded-changes N  --change-spacing-ms N  --heartbeat-seconds N
          --registry PATH    the Mesh.Registry.dll to run (default: the one built next to this project)
          --json PATH        also write the results as JSON
          --check-goals      exit 2 when a goal is missed (exit 1 is always a failure: errors, missed changes)
        """;

    /// <summary>Reads the command line; null (with the reason written) when it is not understood.</summary>
    public static Settings? Parse(string[] args, TextWriter error)
    {
        var settings = args.Contains("--smoke") ? Smoke : Full;
        var preset = Array.IndexOf(args, "--preset");
        if (preset >= 0)
        {
            if (args.Contains("--smoke") || preset + 1 >= args.Length || !Presets.TryGetValue(args[preset + 1], out var named))
            {
                error.WriteLine($"--preset: needs one of {string.Join(", ", Presets.Keys)}, and not with --smoke\n\n{Usage}");
                return null;
            }

            settings = named;
        }

        var replicasGiven = false;
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            if (arg == "--smoke")
            {
                continue;
            }

            if (arg == "--preset")
            {
                i++;
                continue;
            }

            if (arg == "--check-goals")
            {
                settings = settings with { CheckGoals = true };
                continue;
            }

            if (arg is "-h" or "--help" || i + 1 >= args.Length)
            {
                error.WriteLine(arg is "-h" or "--help" ? Usage : $"{arg}: needs a value\n\n{Usage}");
                return null;
            }

            var value = args[++i];
            int Number() => int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0
                ? n
                : throw new FormatException($"{arg}: '{value}' is not a positive whole number");
            try
            {
                settings = arg switch
                {
                    "--services" => settings with { Services = Number() },
                    "--instances-per-service" => settings with { InstancesPerService = Number() },
                    "--watchers-per-service" => settings with { WatchersPerService = Number() },
                    "--renewers" => settings with { Renewers = Number() },
                    "--quiet-changes" => settings with { QuietChanges = Number() },
                    "--loaded-changes" => settings with { LoadedChanges = Number() },
                    "--change-spacing-ms" => settings with { ChangeSpacing = TimeSpan.FromMilliseconds(Number()) },
                    "--heartbeat-seconds" => settings with { HeartbeatDuration = TimeSpan.FromSeconds(Number()) },
                    "--registry" => settings with { RegistryDll = Path.GetFullPath(value) },
                    "--json" => settings with { JsonPath = Path.GetFullPath(value) },
                    "--store" when value is "sqlite" or "etcd" => settings with { Store = value },
                    "--store" => throw new FormatException($"--store: '{value}' is not sqlite or etcd"),
                    "--replicas" => Given(ref replicasGiven, settings with { Replicas = Number() }),
                    _ => throw new FormatException($"{arg}: unknown option"),
                };
            }
            catch (FormatException ex)
            {
                error.WriteLine($"{ex.Message}\n\n{Usage}");
                return null;
            }
        }

        if (settings.IsEtcd && !replicasGiven && settings.Replicas == 1)
        {
            settings = settings with { Replicas = 2 };
        }

        if (!settings.IsEtcd && !replicasGiven)
        {
            settings = settings with { Replicas = 1 };
        }

        if (!settings.IsEtcd && settings.Replicas > 1)
        {
            error.WriteLine($"--replicas {settings.Replicas}: several registries share state only with --store etcd\n\n{Usage}");
            return null;
        }

        return settings;
    }

    private static Settings Given(ref bool given, Settings settings)
    {
        given = true;
        return settings;
    }
}
