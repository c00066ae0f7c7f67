using System.Reflection;
using System.Text;
using Mesh.Client;

namespace Mesh.AspNetCore.Tests;

/// <summary>
/// The public API is a promise. This test lists every public type and member of the shipped assemblies and compares
/// the list with the committed baseline; an intended change updates the baseline (run with
/// MESH_UPDATE_API_BASELINE=1) and shows up in review as a diff of PublicApi.txt.
/// </summary>
public sealed class PublicApiTests
{
    [Fact]
    public void Public_api_matches_the_baseline()
    {
        var actual = Describe(typeof(MeshOptions).Assembly) + Describe(typeof(Microsoft.AspNetCore.Builder.MeshApplicationBuilderExtensions).Assembly);
        if (Environment.GetEnvironmentVariable("MESH_UPDATE_API_BASELINE") == "1")
        {
            File.WriteAllText(Path.Combine(RepositoryRoot(), "tests", "Mesh.AspNetCore.Tests", "PublicApi.txt"), actual);
            return;
        }

        // The baseline is copied next to the test assembly: source paths are not real paths in a CI (deterministic) build.
        var baselinePath = Path.Combine(AppContext.BaseDirectory, "PublicApi.txt");
        File.Exists(baselinePath).ShouldBeTrue($"missing {baselinePath}; run the tests with MESH_UPDATE_API_BASELINE=1 to create it");
        actual.ShouldBe(File.ReadAllText(baselinePath).ReplaceLineEndings("\n"));
    }

    [Fact]
    public void No_polly_type_appears_in_the_public_api()
    {
        var actual = Describe(typeof(MeshOptions).Assembly) + Describe(typeof(Microsoft.AspNetCore.Builder.MeshApplicationBuilderExtensions).Assembly);
        actual.ShouldNotContain("Polly");
    }

    private static string Describe(Assembly assembly)
    {
        var sb = new StringBuilder();
        sb.Append("assembly ").Append(assembly.GetName().Name).Append('\n');
        foreach (var type in assembly.GetExportedTypes().OrderBy(t => t.FullName, StringComparer.Ordinal))
        {
            sb.Append(Kind(type)).Append(' ').Append(type.FullName).Append('\n');
            var members = type.GetMembers(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly)
                .Where(m => m is not MethodInfo { IsSpecialName: true })
                .Select(Member)
                .OrderBy(s => s, StringComparer.Ordinal);
            foreach (var m in members)
            {
                sb.Append("  ").Append(m).Append('\n');
            }
        }

        return sb.ToString();
    }

    private static string Kind(Type t) =>
        t.IsEnum ? "enum" : t.IsInterface ? "interface" : t.IsValueType ? "struct" : t.IsAbstract && t.IsSealed ? "static class" : t.IsSealed ? "sealed class" : "class";

    private static string Member(MemberInfo m) => m switch
    {
        ConstructorInfo c => $"ctor({Params(c.GetParameters())})",
        MethodInfo mi => $"{(mi.IsStatic ? "static " : string.Empty)}{Name(mi.ReturnType)} {mi.Name}({Params(mi.GetParameters())})",
        PropertyInfo p => $"{Name(p.PropertyType)} {p.Name} {{{(p.GetMethod?.IsPublic == true ? " get;" : string.Empty)}{(p.SetMethod?.IsPublic == true ? " set;" : string.Empty)} }}",
        FieldInfo f => $"{(f.IsLiteral ? "const " : f.IsStatic ? "static " : string.Empty)}{Name(f.FieldType)} {f.Name}",
        EventInfo e => $"event {Name(e.EventHandlerType!)} {e.Name}",
        Type nested => $"nested {nested.Name}",
        _ => m.ToString()!,
    };

    private static string Params(ParameterInfo[] ps) => string.Join(", ", ps.Select(p => $"{Name(p.ParameterType)} {p.Name}{(p.HasDefaultValue ? " = " + (p.DefaultValue ?? "null") : string.Empty)}"));

    private static string Name(Type t)
    {
        if (t.IsGenericType)
        {
            var name = t.Name[..t.Name.IndexOf('`', StringComparison.Ordinal)];
            return $"{t.Namespace}.{name}<{string.Join(", ", t.GetGenericArguments().Select(Name))}>";
        }

        return t.FullName ?? t.Name;
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(Directory.GetCurrentDirectory()); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "MeshLib.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Run the baseline update from inside the repository.");
    }
}
