using Mesh.Client.Registry;

namespace Mesh.Registry.Store;

/// <summary>What a policy write did, and the policy as it is after it (the current one when nothing was written).</summary>
internal sealed record PolicyWrite(PolicyOutcome Outcome, PolicyResponse Policy);
