using System.Collections.Immutable;

namespace Mesh.Client.Hosting;

/// <summary>
/// What the inbound side reads of the model: the authorization and rate limit rules in force for this service (the
/// mesh-wide <c>Mesh:Authorization</c> and <c>Mesh:RateLimits</c> rules, then this service's own policy's, from the
/// registry when it has one) and the switches that go with them. Built with the runtime model, so a reload or a policy change replaces it whole. A hosting
/// seam: read it through <see cref="MeshInbound"/>.
/// </summary>
public sealed class InboundModel
{
    internal static readonly InboundModel Empty = new([], authorizationDryRun: false, accessLog: false, rateLimitRules: []);

    internal InboundModel(ImmutableArray<AuthorizationRuleModel> authorizationRules, bool authorizationDryRun, bool accessLog,
        ImmutableArray<RateLimitRuleModel> rateLimitRules)
    {
        AuthorizationRules = authorizationRules;
        AuthorizationDryRun = authorizationDryRun;
        AccessLog = accessLog;
        RateLimitRules = rateLimitRules;
    }

    /// <summary>The mesh-wide rules first, then this service's policy's, in the order they were written.</summary>
    public ImmutableArray<AuthorizationRuleModel> AuthorizationRules { get; }

    /// <summary>Whether a denial is only logged and counted, and the request goes on.</summary>
    public bool AuthorizationDryRun { get; }

    /// <summary>Whether inbound requests are written to the <c>Mesh.AccessLog</c> category.</summary>
    public bool AccessLog { get; }

    /// <summary>The mesh-wide rate limit rules first, then this service's policy's, in the order they were written.</summary>
    public ImmutableArray<RateLimitRuleModel> RateLimitRules { get; }
}
