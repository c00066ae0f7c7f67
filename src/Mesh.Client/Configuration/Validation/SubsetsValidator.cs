namespace Mesh.Client.Configuration;

/// <summary>Checks a service's <c>Subsets</c>: valid names, each with a label selector.</summary>
internal static class SubsetsValidator
{
    public static void Validate(IDictionary<string, IDictionary<string, string>> subsets, string path, List<string> errors)
    {
        foreach (var (subsetName, selector) in subsets)
        {
            if (!PolicyValidator.IsValidName(subsetName))
            {
                errors.Add($"{path}:{subsetName}: '{subsetName}' is not a valid subset name");
            }

            if (selector is null)
            {
                errors.Add($"{path}:{subsetName}: missing label selector");
            }
        }
    }
}
