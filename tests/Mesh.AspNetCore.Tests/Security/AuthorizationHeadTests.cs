using Mesh.AspNetCore.Security;
using Mesh.Client;
using Mesh.Client.Hosting;

namespace Mesh.AspNetCore.Tests.Security;

/// <summary>
/// HEAD is GET without the body (RFC 9110 §9.3.2), and servers answer it with the GET handler: static files and
/// static assets, Razor Pages' <c>OnGet</c>, any endpoint mapped for all methods. A rule that denies GET must deny HEAD
/// too, or a HEAD request runs the denied handler and reads its headers; a rule that allows GET allows no more.
/// </summary>
public sealed class AuthorizationHeadTests
{
    [Theory]
    [InlineData("HEAD")]
    [InlineData("head")]
    [InlineData("GET")]
    public void ADenyOfGetDeniesHead(string method)
    {
        var table = Table(
            new AuthorizationRuleOptions { Action = AuthorizationAction.Allow, Paths = ["/*"] },
            new AuthorizationRuleOptions { Action = AuthorizationAction.Deny, Paths = ["/private/*"], Methods = ["GET"] });

        table.IsAllowed(null, new AuthorizationTarget("/private/report.pdf"), method).ShouldBeFalse();
    }

    [Fact]
    public void ADenyOfHeadDeniesNoGet()
    {
        var table = Table(
            new AuthorizationRuleOptions { Action = AuthorizationAction.Allow, Paths = ["/*"] },
            new AuthorizationRuleOptions { Action = AuthorizationAction.Deny, Paths = ["/private/*"], Methods = ["HEAD"] });

        table.IsAllowed(null, new AuthorizationTarget("/private/report.pdf"), "GET").ShouldBeTrue();
        table.IsAllowed(null, new AuthorizationTarget("/private/report.pdf"), "HEAD").ShouldBeFalse();
    }

    [Fact]
    public void AnAllowOfGetAllowsNoMoreThanItNames()
    {
        var table = Table(new AuthorizationRuleOptions { Action = AuthorizationAction.Allow, Paths = ["/public/*"], Methods = ["GET"] });

        table.IsAllowed(null, new AuthorizationTarget("/public/x"), "GET").ShouldBeTrue();
        table.IsAllowed(null, new AuthorizationTarget("/public/x"), "POST").ShouldBeFalse();
    }

    private static AuthorizationTable Table(params AuthorizationRuleOptions[] rules) =>
        AuthorizationTable.Build(rules.Select(AuthorizationRuleModel.Of), dryRun: false);
}
