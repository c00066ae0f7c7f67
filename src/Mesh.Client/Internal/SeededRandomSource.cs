namespace Mesh.Client.Internal;

#pragma warning disable RS0030 // The seeded source wraps System.Random, like the shared one in RandomSource.
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
#pragma warning restore RS0030
