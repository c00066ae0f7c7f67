namespace Mesh.Client.Tests.Documentation;

/// <summary>An inline link's target as written, outside code.</summary>
/// <param name="Line">The 1-based line the link is on.</param>
/// <param name="Target">The destination between the parentheses.</param>
internal sealed record MarkdownLink(int Line, string Target);
