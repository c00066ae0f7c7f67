using System.CommandLine;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Mesh.Client;

namespace Mesh.Registry.Cli;

/// <summary>
/// <c>mesh-registry policy apply|validate|get|history|rollback</c> and <c>policy rollout ...</c> (<see cref="RolloutCli"/>; see <see cref="RegistryCli"/>): the registry's policy API from a shell. Documents
/// are validated by the registry (the very validator every client runs) before anything is stored; errors are
/// printed with their paths. The admin token comes from <c>--token</c> or <c>MESH_ADMIN_TOKEN</c> and is never printed.
/// </summary>
/// <remarks>Exit codes: 0 done; 1 refused (an invalid document, no such version); 2 bad usage or an unreadable file;
/// 3 the registry could not be reached or failed; 4 the token was missing, wrong or not the admin's.</remarks>
internal static class PolicyCli
{
    public const int Ok = 0;
    public const int Refused = 1;
    public const int Usage = 2;
    public const int Unreachable = 3;
    public const int Unauthorized = 4;

    public const string TokenVariable = "MESH_ADMIN_TOKEN";
    public const string RegistryVariable = "MESH_REGISTRY_URL";

    private static readonly JsonSerializerOptions Pretty = new() { WriteIndented = true };

    /// <summary>The <c>policy</c> command and its subcommands.</summary>
    public static Command Create(TextWriter output, TextWriter error, Func<string, string?> environment, HttpMessageHandler? handler)
    {
        var service = new Option<string>("--service", "-s") { Description = "The service whose policy this is", Required = true };
        var registry = new Option<string?>("--registry")
        {
            Description = $"The registry's URL (default: ${RegistryVariable}, else {RegistryDefaults.Url})",
        };
        var token = new Option<string?>("--token") { Description = $"The admin token (default: ${TokenVariable})" };
        var caFingerprint = new Option<string?>("--ca-fingerprint")
        {
            Description = $"An https registry's CA fingerprint, 'sha256:...' as it prints at start (default: ${RegistryConnection.FingerprintVariable})",
        };
        var caFile = new Option<string?>("--ca-file") { Description = $"An https registry's CA root certificate, PEM (default: ${RegistryConnection.FileVariable})" };
        var allowInsecure = new Option<bool>("--allow-insecure") { Description = "Allow a plain http registry URL that is not a loopback address" };
        var file = new Argument<FileInfo>("file") { Description = "The policy document: the JSON of Mesh:Services:<name> without Endpoints" };
        var version = new Option<long>("--version") { Description = "The policy version to go back to", Required = true };

        Command WithCommon(Command command)
        {
            command.Options.Add(service);
            command.Options.Add(registry);
            command.Options.Add(token);
            command.Options.Add(caFingerprint);
            command.Options.Add(caFile);
            command.Options.Add(allowInsecure);
            return command;
        }

        var apply = WithCommon(new Command("apply", "Validate a policy document, then store it as the service's next version") { file });
        var validate = WithCommon(new Command("validate", "Validate a policy document without storing it") { file });
        var get = WithCommon(new Command("get", "Print the service's current policy"));
        var history = WithCommon(new Command("history", "List the service's policy versions, newest first"));
        var rollback = WithCommon(new Command("rollback", "Make an earlier version current again (as a new version)") { version });

        Session Open(ParseResult parse) => new(parse.GetValue(service)!, parse.GetValue(registry) ?? environment(RegistryVariable) ?? RegistryDefaults.Url,
            parse.GetValue(token) ?? environment(TokenVariable), output, error, handler,
            new RegistryConnection(parse.GetValue(caFingerprint) ?? environment(RegistryConnection.FingerprintVariable),
                parse.GetValue(caFile) ?? environment(RegistryConnection.FileVariable), parse.GetValue(allowInsecure)));

        apply.SetAction((parse, ct) => Open(parse).ApplyAsync(parse.GetValue(file)!, store: true, ct));
        validate.SetAction((parse, ct) => Open(parse).ApplyAsync(parse.GetValue(file)!, store: false, ct));
        get.SetAction((parse, ct) => Open(parse).GetAsync(ct));
        history.SetAction((parse, ct) => Open(parse).HistoryAsync(ct));
        rollback.SetAction((parse, ct) => Open(parse).RollbackAsync(parse.GetValue(version), ct));

        var rollouts = RolloutCli.Create(WithCommon, Open);
        return new Command("policy", "Apply, validate, read and roll back service policies; run rollouts") { apply, validate, get, history, rollback, rollouts };
    }

    internal sealed class Session(string service, string registry, string? token, TextWriter output, TextWriter error, HttpMessageHandler? handler,
        RegistryConnection connection)
    {
        public async Task<int> ApplyAsync(FileInfo file, bool store, CancellationToken cancellationToken)
        {
            if (Prepare() is { } failed)
            {
                return failed;
            }

            byte[] body;
            try
            {
                body = await File.ReadAllBytesAsync(file.FullName, cancellationToken);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                await error.WriteLineAsync($"{file.FullName}: cannot read the file: {ex.Message}");
                return Usage;
            }

            return await CallAsync(async http =>
            {
                using var check = await http.PostAsync(Path("validate"), Json(body), cancellationToken);
                if (!check.IsSuccessStatusCode)
                {
                    return await FailAsync(check, $"{file.Name}: the policy for '{service}' is invalid; nothing was changed", cancellationToken);
                }

                if (!store)
                {
                    await output.WriteLineAsync($"{file.Name}: valid policy for '{service}'");
                    return Ok;
                }

                using var put = await http.PutAsync(Path(null), Json(body), cancellationToken);
                if (!put.IsSuccessStatusCode)
                {
                    return await FailAsync(put, $"{file.Name}: the registry refused the policy for '{service}'", cancellationToken);
                }

                using var answer = await ReadAsync(put, cancellationToken);
                await output.WriteLineAsync($"applied: '{service}' policy version {answer.RootElement.GetProperty("version").GetInt64()}");
                return Ok;
            });
        }

        public Task<int> GetAsync(CancellationToken cancellationToken) => CallAsync(async http =>
        {
            using var response = await http.GetAsync(Path(null), cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                return await FailAsync(response, $"could not read the policy of '{service}'", cancellationToken);
            }

            using var answer = await ReadAsync(response, cancellationToken);
            var root = answer.RootElement;
            var version = root.GetProperty("version").GetInt64();
            if (version == 0 || !root.TryGetProperty("document", out var document) || document.ValueKind == JsonValueKind.Null)
            {
                await error.WriteLineAsync($"'{service}' has no policy in the registry");
                return Refused;
            }

            await error.WriteLineAsync($"'{service}' policy version {version}");
            await output.WriteLineAsync(JsonSerializer.Serialize(document, Pretty));
            return Ok;
        });

        public Task<int> HistoryAsync(CancellationToken cancellationToken) => CallAsync(async http =>
        {
            using var response = await http.GetAsync(Path("history"), cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                return await FailAsync(response, $"could not read the history of '{service}'", cancellationToken);
            }

            using var answer = await ReadAsync(response, cancellationToken);
            await output.WriteLineAsync($"{"version",8}  {"created (UTC)",-20}  note");
            foreach (var v in answer.RootElement.GetProperty("versions").EnumerateArray())
            {
                var note = !v.TryGetProperty("document", out var d) || d.ValueKind == JsonValueKind.Null ? "deleted"
                    : v.TryGetProperty("rollbackOf", out var r) ? $"rollback to {r.GetInt64()}" : string.Empty;
                await output.WriteLineAsync(
                    $"{v.GetProperty("version").GetInt64(),8}  {v.GetProperty("createdAt").GetDateTimeOffset().UtcDateTime:yyyy-MM-dd HH:mm:ss}  {note}");
            }

            return Ok;
        });

        public Task<int> RollbackAsync(long version, CancellationToken cancellationToken) => CallAsync(async http =>
        {
            using var response = await http.PostAsync(Path($"rollback?version={version}"), null, cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                return await FailAsync(response, $"could not roll '{service}' back to version {version}", cancellationToken);
            }

            using var answer = await ReadAsync(response, cancellationToken);
            await output.WriteLineAsync($"rolled back: '{service}' policy version {answer.RootElement.GetProperty("version").GetInt64()} has version {version}'s document");
            return Ok;
        });

        private int? Prepare()
        {
            if (!MeshPolicyValidation.IsValidName(service))
            {
                error.WriteLine($"--service: '{service}' is not a valid service name (letters, digits, '-', '_' and '.', at most 63 characters)");
                return Usage;
            }

            if (!Uri.TryCreate(registry, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            {
                error.WriteLine($"--registry: '{registry}' is not an http or https URL");
                return Usage;
            }

            if (connection.Check(uri) is { } problem)
            {
                error.WriteLine(problem);
                return Usage;
            }

            return null;
        }

        public string Service => service;

        public TextWriter Output => output;

        public TextWriter Error => error;

        public async Task<int> CallAsync(Func<HttpClient, Task<int>> call)
        {
            if (Prepare() is { } failed)
            {
                return failed;
            }

            if (string.IsNullOrEmpty(token))
            {
                await error.WriteLineAsync($"a token is needed: --token, or the {TokenVariable} environment variable");
                return Unauthorized;
            }

            using var http = connection.CreateClient(new Uri(registry), token, handler);

            try
            {
                return await call(http);
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                await error.WriteLineAsync($"the registry at {registry} could not be reached: {ex.Message}");
                return Unreachable;
            }
            catch (JsonException ex)
            {
                await error.WriteLineAsync($"the registry at {registry} answered something that is not its JSON: {ex.Message}");
                return Unreachable;
            }
        }

        private Uri Path(string? suffix) =>
            new($"/v1/policies/{Uri.EscapeDataString(service)}{(suffix is null ? string.Empty : (suffix.StartsWith('?') ? suffix : "/" + suffix))}", UriKind.Relative);

        /// <summary>Prints a problem: its title and detail, then every error with its path; the exit code by status.</summary>
        public async Task<int> FailAsync(HttpResponseMessage response, string what, CancellationToken cancellationToken)
        {
            await error.WriteLineAsync($"{what} ({(int)response.StatusCode} {response.ReasonPhrase})");
            var text = await response.Content.ReadAsStringAsync(cancellationToken);
            try
            {
                using var problem = JsonDocument.Parse(text);
                var root = problem.RootElement;
                if (root.TryGetProperty("detail", out var detail) && detail.ValueKind == JsonValueKind.String)
                {
                    await error.WriteLineAsync("  " + detail.GetString());
                }

                if (root.TryGetProperty("errors", out var errors) && errors.ValueKind == JsonValueKind.Object)
                {
                    foreach (var field in errors.EnumerateObject())
                    {
                        foreach (var message in field.Value.EnumerateArray())
                        {
                            await error.WriteLineAsync($"  {field.Name}: {message.GetString()}");
                        }
                    }
                }
            }
            catch (JsonException)
            {
                // Not a problem document (a proxy's page, say): the status line above says what happened.
            }

            return response.StatusCode switch
            {
                HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden => Unauthorized,
                >= HttpStatusCode.InternalServerError => Unreachable,
                _ => Refused,
            };
        }

        public static ByteArrayContent Json(byte[] body)
        {
            var content = new ByteArrayContent(body);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = Encoding.UTF8.WebName };
            return content;
        }

        public static async Task<JsonDocument> ReadAsync(HttpResponseMessage response, CancellationToken cancellationToken) =>
            await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(cancellationToken), cancellationToken: cancellationToken);
    }
}
