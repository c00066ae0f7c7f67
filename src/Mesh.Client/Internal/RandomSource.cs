namespace Mesh.Client.Internal;

/// <summary>
/// The one source of randomness in the mesh (weighted splits, balancer choices, fault and mirror sampling, jitter).
/// Tests replace it with a seeded one so every run takes the same decisions.
/// </summary>
internal abstract class RandomSource
{
    public static RandomSource Shared { get; } = new SharedRandomSource();

    /// <summary>A value in [0, 1).</summary>
    public abstract double NextDouble();

    /// <summary>A value in [0, maxExclusive).</summary>
    public abstract int Next(int maxExclusive);

#pragma warning disable RS0030 // This is the one place that wraps System.Random; everything else goes through it.
    private sealed class SharedRandomSource : RandomSource
    {
        public override double NextDouble() => Random.Shared.NextDouble();

        public override int Next(int maxExclusive) => Random.Shared.Next(maxExclusive);
    }
#pragma warning restore RS0030
}
