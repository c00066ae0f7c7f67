namespace Mesh.AspNetCore.Security;

/// <summary>
/// The spellings of one request's target that authorization rules are tried against, each canonical
/// (<see cref="AuthorizationPath"/>). <see cref="Path"/> is what the router routes (after <c>UsePathBase</c>);
/// <see cref="FullPath"/> the same with the path base in front, when there is one, so rules may be written either way.
/// DENY rules are also tried against the endpoint routing chose (<see cref="Route"/>, and <see cref="RoutedPath"/>
/// for a route with defaults): those can add a denial, never an allowance.
/// </summary>
internal readonly record struct AuthorizationTarget(string Path, string? FullPath = null, EndpointRoute? Route = null, string? RoutedPath = null);
