namespace Mesh.Client.Tests.Documentation;

/// <summary>A fenced code block: its info string split into the language and the words after it.</summary>
/// <param name="Line">The 1-based line of the opening fence.</param>
/// <param name="Language">The info string's first word (<c>json</c>).</param>
/// <param name="Tags">The info string's further words (<c>policy</c>).</param>
/// <param name="Code">The lines between the fences.</param>
internal sealed record MarkdownCodeBlock(int Line, string Language, IReadOnlyList<string> Tags, string Code);
