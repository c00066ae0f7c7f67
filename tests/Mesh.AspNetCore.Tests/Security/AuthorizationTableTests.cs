using Mesh.AspNetCore.Security;
using Mesh.Client;
using Mesh.Client.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Patterns;

namespace Mesh.AspNetCore.Tests.Security;

public sealed class AuthorizationTableTests
{
    private static readonly AuthorizationTable DenyList = Table(
    [
        new AuthorizationRuleOptions { Action = AuthorizationAction.Allow, Paths = ["/*"] },
        new AuthorizationRuleOptions { Action = AuthorizationAction.Deny, Paths = ["/admin/*"] },
        new AuthorizationRuleOptions { Action = AuthorizationAction.Deny, Paths = ["/config"] },
        new AuthorizationRuleOptions { Action = AuthorizationAction.Deny, Paths = ["/items/*"], Methods = ["DELETE"] },
    ], dryRun: false);

    [Theory]
    [InlineData("/admin/secret", "GET")]
    [InlineData("/ADMIN/SECRET", "GET")]
    [InlineData("/Config", "GET")]
    [InlineData("/items/1", "DELETE")]
    [InlineData("/ITEMS/1", "delete")]
    public void DenyRulesIgnoreCase(string path, string method) =>
        DenyList.IsAllowed(null, new AuthorizationTarget(path), method).ShouldBeFalse();

    [Theory]
    [InlineData("/admin", "GET")] // "/admin/*" is what is under /admin, as in Istio
    [InlineData("/configuration", "GET")]
    [InlineData("/config/x", "GET")]
    [InlineData("/items/1", "GET")]
    public void WhatNoDenyRuleCoversIsAllowed(string path, string method) =>
        DenyList.IsAllowed(null, new AuthorizationTarget(path), method).ShouldBeTrue();

    [Theory]
    [InlineData("/admin/{id}", "GET")]
    [InlineData("/Admin/{id}/{more}", "GET")]
    [InlineData("/admin/users/{id}", "GET")]
    [InlineData("/admin/secret", "GET")]
    [InlineData("/config", "GET")]
    [InlineData("/items/{id}", "DELETE")]
    public void ADenyRuleCoversTheEndpointWhoseRouteItCoversWhateverThePath(string pattern, string method) =>
        DenyList.IsAllowed(null, new AuthorizationTarget("/read/differently", Route: EndpointRoute.Of(Endpoint(pattern))), method).ShouldBeFalse();

    [Theory]
    [InlineData("/admin", "GET")]
    [InlineData("/{area}/secret", "GET")]
    [InlineData("/config/{id}", "GET")]
    [InlineData("/configuration", "GET")]
    [InlineData("/items/{id}", "GET")]
    [InlineData("/{**rest}", "GET")]
    public void ARouteTheRulesDoNotCoverLeavesThePathToDecide(string pattern, string method) =>
        DenyList.IsAllowed(null, new AuthorizationTarget("/elsewhere", Route: EndpointRoute.Of(Endpoint(pattern))), method).ShouldBeTrue();

    [Theory]
    [InlineData("/reports/{kind=summary}", "/reports/summary")]
    [InlineData("/reports/{kind=summary}/{format?}", "/reports/summary")]
    [InlineData("/files/{name=index}.{ext=html}", "/files/index.html")]
    public void ARouteWithDefaultsServesThePathItsDefaultsName(string pattern, string routed)
    {
        var route = EndpointRoute.Of(Endpoint(pattern))!;
        route.HasDefaults.ShouldBeTrue();
        route.RoutedPath(new RouteValueDictionary()).ShouldBe(routed);
    }

    [Fact]
    public void AnExactDenyCoversTheShorterPathARouteDefaultLeadsToIt()
    {
        var table = Table(
        [
            new AuthorizationRuleOptions { Action = AuthorizationAction.Allow, Paths = ["/*"] },
            new AuthorizationRuleOptions { Action = AuthorizationAction.Deny, Paths = ["/reports/summary"] },
        ], dryRun: false);
        var route = EndpointRoute.Of(Endpoint("/reports/{kind=summary}"))!;

        table.IsAllowed(null, new AuthorizationTarget("/reports", Route: route, RoutedPath: route.RoutedPath(new RouteValueDictionary())), "GET")
            .ShouldBeFalse();
        table.IsAllowed(null, new AuthorizationTarget("/reports/daily", Route: route,
            RoutedPath: route.RoutedPath(new RouteValueDictionary { ["kind"] = "daily" })), "GET").ShouldBeTrue();
    }

    [Fact]
    public void WithAPathBaseEitherSpellingOfARuleMatches()
    {
        DenyList.IsAllowed(null, AuthorizationTarget.Create("/admin/x", "/api", null, null), "GET").ShouldBeFalse();
        var withBase = Table(
        [
            new AuthorizationRuleOptions { Action = AuthorizationAction.Allow, Paths = ["/*"] },
            new AuthorizationRuleOptions { Action = AuthorizationAction.Deny, Paths = ["/api/admin/*"] },
        ], dryRun: false);
        withBase.IsAllowed(null, AuthorizationTarget.Create("/admin/x", "/api", null, null), "GET").ShouldBeFalse();

        // The endpoint's route and the path its defaults lead to are tried with the base in front too.
        withBase.IsAllowed(null, AuthorizationTarget.Create("/elsewhere", "/api", EndpointRoute.Of(Endpoint("/admin/{id}")), null), "GET")
            .ShouldBeFalse();
        var reports = Table(
        [
            new AuthorizationRuleOptions { Action = AuthorizationAction.Allow, Paths = ["/*"] },
            new AuthorizationRuleOptions { Action = AuthorizationAction.Deny, Paths = ["/api/reports/summary"] },
        ], dryRun: false);
        var route = EndpointRoute.Of(Endpoint("/reports/{kind=summary}"))!;
        reports.IsAllowed(null, AuthorizationTarget.Create("/reports", "/api", route, route.RoutedPath(new RouteValueDictionary())), "GET")
            .ShouldBeFalse();
    }

    [Fact]
    public void AnEndpointNeverAddsAnAllowance()
    {
        var allowList = Table(
            [new AuthorizationRuleOptions { Action = AuthorizationAction.Allow, Paths = ["/public/*"] }], dryRun: false);

        allowList.IsAllowed(null, new AuthorizationTarget("/admin/x", Route: EndpointRoute.Of(Endpoint("/public/{name}"))), "GET").ShouldBeFalse();
        allowList.IsAllowed(null, new AuthorizationTarget("/PUBLIC/x"), "GET").ShouldBeTrue();
    }

    [Fact]
    public void APathBaseNeverAddsAnAllowance()
    {
        var allowList = Table(
            [new AuthorizationRuleOptions { Action = AuthorizationAction.Allow, Paths = ["/public/*", "/api/reports/*"] }], dryRun: false);

        // Routing routes "/admin/x" whatever the base; a forwarded prefix is the caller's to choose.
        allowList.IsAllowed(null, AuthorizationTarget.Create("/admin/x", "/public", null, null), "GET").ShouldBeFalse();
        allowList.IsAllowed(null, AuthorizationTarget.Create("/reports/x", "/api", null, null), "GET").ShouldBeFalse();
        allowList.IsAllowed(null, AuthorizationTarget.Create("/public/x", "/api", null, null), "GET").ShouldBeTrue();
    }

    [Fact]
    public void OnlyRulesWithPathsMakeThePathMatter()
    {
        Table([new AuthorizationRuleOptions { From = ["*"] }], false).HasPathRules.ShouldBeFalse();
        DenyList.HasPathRules.ShouldBeTrue();
    }

    private static RouteEndpoint Endpoint(string pattern) =>
        new(_ => Task.CompletedTask, RoutePatternFactory.Parse(pattern), 0, EndpointMetadataCollection.Empty, pattern);

    private static AuthorizationTable Table(AuthorizationRuleOptions[] rules, bool dryRun) =>
        AuthorizationTable.Build(rules.Select(AuthorizationRuleModel.Of), dryRun);
}
