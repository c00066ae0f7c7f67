using Mesh.Client.Http;

namespace Mesh.Client.Tests.Http;

public sealed class TransportRedirectsTests
{
    [Fact]
    public void A_transport_shared_by_two_clients_keeps_its_first_answer()
    {
        using var shared = new SocketsHttpHandler { MaxAutomaticRedirections = 7 };

        TransportRedirects.TakeOver(shared).ShouldBe(7);
        shared.AllowAutoRedirect.ShouldBeFalse();
        // The second client sees following already off, but the app allowed seven.
        TransportRedirects.TakeOver(shared).ShouldBe(7);
    }

    [Fact]
    public void The_transport_is_found_behind_delegating_handlers()
    {
        var client = new HttpClientHandler { MaxAutomaticRedirections = 4 };
        using var chain = new PassingHandler { InnerHandler = new PassingHandler { InnerHandler = client } };

        TransportRedirects.TakeOver(chain).ShouldBe(4);
        client.AllowAutoRedirect.ShouldBeFalse();
    }

    [Fact]
    public void A_transport_that_does_not_follow_or_is_unknown_leaves_redirects_to_the_caller()
    {
        using var manual = new SocketsHttpHandler { AllowAutoRedirect = false };
        using var custom = new PassingHandler();

        TransportRedirects.TakeOver(manual).ShouldBe(0);
        TransportRedirects.TakeOver(custom).ShouldBe(0);
    }

    private sealed class PassingHandler : DelegatingHandler
    {
    }
}
