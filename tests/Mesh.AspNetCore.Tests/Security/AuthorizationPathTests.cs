using Mesh.AspNetCore.Security;

namespace Mesh.AspNetCore.Tests.Security;

public sealed class AuthorizationPathTests
{
    [Theory]
    [InlineData("/admin/secret", "/admin/secret")]
    [InlineData("/", "/")]
    [InlineData("", "/")]
    [InlineData("/admin/secret/", "/admin/secret")]
    [InlineData("/admin//secret", "/admin/secret")]
    [InlineData("//admin/secret//", "/admin/secret")]
    [InlineData("/admin/./secret", "/admin/secret")]
    [InlineData("/x/../admin/secret", "/admin/secret")]
    [InlineData("/a//../b", "/a/b")]
    [InlineData("/../../admin", "/admin")]
    [InlineData("/config/.", "/config")]
    [InlineData("/.hidden/..x/...", "/.hidden/..x/...")]
    [InlineData("/ADMIN/Secret", "/ADMIN/Secret")]
    [InlineData("/caf\u00e9/\U0001F600", "/caf\u00e9/\U0001F600")]
    [InlineData("admin", "/admin")]
    public void AFreelySpelledPathHasOneCanonicalForm(string path, string canonical)
    {
        AuthorizationPath.TryCanonicalize(path, out var result).ShouldBeTrue();
        result.ShouldBe(canonical);
    }

    [Fact]
    public void ACanonicalPathIsReturnedWithoutACopy()
    {
        var path = string.Concat("/admin/", "secret");
        AuthorizationPath.TryCanonicalize(path, out var result).ShouldBeTrue();
        ReferenceEquals(result, path).ShouldBeTrue();
    }

    [Theory]
    [InlineData("/admin%2Fsecret")]
    [InlineData("/admin%2fsecret")]
    [InlineData("/admin\\secret")]
    [InlineData("/admin/%41")]
    [InlineData("/admin/%C3(")]
    [InlineData("/admin/a\0b")]
    [InlineData("/admin/a\u0001")]
    public void APathWithoutASingleReadingIsRefused(string path) =>
        AuthorizationPath.TryCanonicalize(path, out _).ShouldBeFalse();

    [Fact]
    public void ALoneSurrogateFromInvalidUtf8IsRefused()
    {
        // Built here rather than as theory data: the test runner's serialization would replace a lone surrogate.
        AuthorizationPath.TryCanonicalize("/admin/" + '\ud800' + "x", out _).ShouldBeFalse();
        AuthorizationPath.TryCanonicalize("/admin/" + '\udc00', out _).ShouldBeFalse();
        AuthorizationPath.TryCanonicalize("/admin/" + '\ud800', out _).ShouldBeFalse();
    }

    [Theory]
    [InlineData("/100%")]
    [InlineData("/50%off")]
    [InlineData("/%zz")]
    public void APercentSignThatIsNoEscapeIsPlainText(string path) =>
        AuthorizationPath.TryCanonicalize(path, out _).ShouldBeTrue();
}
