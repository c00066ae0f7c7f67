using Mesh.Registry.Instances;

namespace Mesh.Registry.Tests;

/// <summary>The guard's rule on its own, as every store applies it (the HTTP behaviour is in <see cref="LeaseTests"/>).</summary>
public sealed class MassExpiryGuardTests
{
    private static readonly DateTimeOffset Now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly RegistryOptions Options = new() { MassExpiryThreshold = 0.5, MassExpiryMaxHold = TimeSpan.FromMinutes(5) };

    [Fact]
    public void Nothing_expired_is_nothing_to_do() =>
        MassExpiryGuard.Judge(Options, expiring: 0, instances: 4, recentExpirations: 3, heldSince: Now, Now).ShouldBe(MassExpiryVerdict.NothingExpired);

    [Theory]
    [InlineData(1, 4, 0, "Expire")]
    [InlineData(2, 4, 0, "Expire")] // exactly the threshold's share still expires
    [InlineData(3, 4, 0, "Hold")]
    [InlineData(1, 2, 1, "Hold")] // (1 + 1 recent) of (2 + 1 recent) is over half
    [InlineData(1, 3, 1, "Expire")] // (1 + 1) of (3 + 1) is half
    public void The_share_within_the_window_decides(int expiring, int instances, int recent, string verdict) =>
        MassExpiryGuard.Judge(Options, expiring, instances, recent, heldSince: null, Now).ToString().ShouldBe(verdict);

    [Fact]
    public void A_hold_ends_after_the_longest_hold_and_not_a_moment_before()
    {
        var since = Now - Options.MassExpiryMaxHold;
        MassExpiryGuard.Judge(Options, 3, 4, 0, since + TimeSpan.FromTicks(1), Now).ShouldBe(MassExpiryVerdict.Hold);
        MassExpiryGuard.Judge(Options, 3, 4, 0, since, Now).ShouldBe(MassExpiryVerdict.ExpireAfterMaxHold);
    }

    [Fact]
    public void A_threshold_of_1_never_holds() =>
        MassExpiryGuard.Judge(new RegistryOptions { MassExpiryThreshold = 1 }, 4, 4, 0, null, Now).ShouldBe(MassExpiryVerdict.Expire);
}
