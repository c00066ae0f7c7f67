namespace Mesh.LoadBenchmarks;

/// <summary>
/// The gRPC backend's counts per listener (Echo calls served, connections accepted) and the one reply every Echo
/// sends: serializing a message only reads it, so all calls share it, as the HTTP backend shares its payload.
/// </summary>
internal sealed class BenchRpcCounters(int listeners, EchoReply reply)
{
    private readonly long[] _calls = new long[listeners];
    private readonly long[] _connections = new long[listeners];
    private Dictionary<int, int> _listenerByPort = [];

    public EchoReply Reply { get; } = reply;

    public void SetPorts(int[] ports)
    {
        var map = new Dictionary<int, int>();
        for (var i = 0; i < ports.Length; i++)
        {
            map[ports[i]] = i;
        }

        Volatile.Write(ref _listenerByPort, map);
    }

    public void RecordCall(int localPort)
    {
        if (Volatile.Read(ref _listenerByPort).TryGetValue(localPort, out var listener))
        {
            Interlocked.Increment(ref _calls[listener]);
        }
    }

    public void RecordConnection(int listener) => Interlocked.Increment(ref _connections[listener]);

    public StatsReply Snapshot()
    {
        var stats = new StatsReply();
        for (var i = 0; i < _calls.Length; i++)
        {
            stats.Calls.Add(Interlocked.Read(ref _calls[i]));
            stats.Connections.Add(Interlocked.Read(ref _connections[i]));
        }

        return stats;
    }
}
