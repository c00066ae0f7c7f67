using Mesh.Testing;

namespace Mesh.Registry.Tests;

/// <summary>The store's join-token operations, as <c>Store/README.md</c> states them: uses are counted atomically.</summary>
public sealed class JoinTokenStoreContractTests : IAsyncLifetime
{
    private static readonly DateTimeOffset Now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private RegistryHost _host = null!;

    public async Task InitializeAsync() => _host = await RegistryHost.StartAsync();

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private static JoinToken Token(string id, int uses) =>
        new(id, RegistryAuth.Hash("secret-" + id), "reviews", null, Now, Now + TimeSpan.FromHours(1), uses, 0);

    [Fact]
    public async Task A_use_is_counted_only_while_one_is_left_and_a_given_back_use_can_be_taken_again()
    {
        var store = _host.Store;
        await store.AddJoinTokenAsync(Token("jt-a", uses: 1), []);
        (await store.TryUseJoinTokenAsync("jt-a")).ShouldBe(1);
        (await store.TryUseJoinTokenAsync("jt-a")).ShouldBeNull();
        (await store.GiveBackJoinTokenUseAsync("jt-a")).ShouldBe(0);
        (await store.GiveBackJoinTokenUseAsync("jt-a")).ShouldBeNull();
        (await store.TryUseJoinTokenAsync("jt-a")).ShouldBe(1);

        (await store.DeleteJoinTokenAsync("jt-a")).ShouldBeTrue();
        (await store.DeleteJoinTokenAsync("jt-a")).ShouldBeFalse();
        (await store.TryUseJoinTokenAsync("jt-a")).ShouldBeNull();
    }

    [Fact]
    public async Task Of_signings_racing_for_a_tokens_uses_exactly_as_many_get_one_as_it_has()
    {
        var store = _host.Store;
        await store.AddJoinTokenAsync(Token("jt-b", uses: 5), []);
        var uses = await Task.WhenAll(Enumerable.Range(0, 40).Select(_ => Task.Run(() => store.TryUseJoinTokenAsync("jt-b"))));
        uses.Where(u => u is not null).Select(u => u!.Value).Order().ShouldBe([1, 2, 3, 4, 5]);
    }

    [Fact]
    public async Task Adding_a_token_drops_the_expired_ones_named_with_it_and_survives_a_restart()
    {
        await _host.Store.AddJoinTokenAsync(Token("jt-old", uses: 1), []);
        await _host.Store.AddJoinTokenAsync(Token("jt-new", uses: 2), ["jt-old"]);
        (await _host.Store.TryUseJoinTokenAsync("jt-new")).ShouldBe(1);

        await _host.RestartAsync();
        var tokens = _host.Store.LoadJoinTokens();
        tokens.Select(t => (t.Id, t.Used)).ShouldBe([("jt-new", 1)]);
    }
}
