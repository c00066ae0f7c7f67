namespace Mesh.Client.Internal;

/// <summary>A deterministic source for tests and benchmarks; thread-safe.</summary>
internal sealed class SeededRandomSource(int seed) : RandomSource
{
    private readonly Random _random = new(seed);
    private readonly Lock _lock = new();

    public override double NextDouble()
    {
        lock (_lock)
        {
            return _random.NextDouble();
        }
    }

    public override int Next(int maxExclusive)
    {
        lock (_lock)
        {
            return _random.Next(maxExclusive);
        }
    }
}
