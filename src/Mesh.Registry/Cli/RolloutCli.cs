using System.CommandLine;
using System.Globalization;
using System.Text.Json;

namespace Mesh.Registry.Cli;

/// <summary>
/// <c>mesh-registry policy rollout start|status|pause|resume|abort|promote</c>: the registry's rollout API from a shell,
/// with the <c>policy</c> command's options, token and exit codes (<see cref="PolicyCli"/>). A refused start prints
/// every error with its path; a command the rollout's state does not allow exits 1 with the registry's reason.
/// </summary>
internal static class RolloutCli
{
    public static Command Create(Func<Command, Command> withCommon, Func<ParseResult, PolicyCli.Session> open)
    {
        var file = new Argument<FileInfo>("file")
        {
            Description = "The rollout: { \"Route\", \"Stable\", \"Canary\", \"Steps\": [5, 25, 50, 100], \"StepInterval\": \"00:00:30\", \"Analysis\": {...} }",
        };
        var start = withCommon(new Command("start", "Start a rollout: move a route from its stable subset to a canary, step by step, judged on live traffic") { file });
        var status = withCommon(new Command("status", "Print the service's rollout: its state, step, weight and every decision"));
        var pause = withCommon(new Command("pause", "Hold the rollout at its step"));
        var resume = withCommon(new Command("resume", "Go on from a pause: the step sets its weights again and its window starts over"));
        var abort = withCommon(new Command("abort", "Stop the rollout and send the route to the stable subset only"));
        var promote = withCommon(new Command("promote", "Skip the remaining steps and send the route to the canary only"));

        start.SetAction((parse, ct) => StartAsync(open(parse), parse.GetValue(file)!, ct));
        status.SetAction((parse, ct) => StatusAsync(open(parse), ct));
        pause.SetAction((parse, ct) => CommandAsync(open(parse), "pause", "paused", ct));
        resume.SetAction((parse, ct) => CommandAsync(open(parse), "resume", "resumed", ct));
        abort.SetAction((parse, ct) => CommandAsync(open(parse), "abort", "aborted", ct));
        promote.SetAction((parse, ct) => CommandAsync(open(parse), "promote", "promoted", ct));
        return new Command("rollout", "Start, follow and steer automatic canary rollouts") { start, status, pause, resume, abort, promote };
    }

    private static async Task<int> StartAsync(PolicyCli.Session session, FileInfo file, CancellationToken cancellationToken)
    {
        byte[] body;
        try
        {
            body = await File.ReadAllBytesAsync(file.FullName, cancellationToken);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            await session.Error.WriteLineAsync($"{file.FullName}: cannot read the file: {ex.Message}");
            return PolicyCli.Usage;
        }

        return await session.CallAsync(async http =>
        {
            using var response = await http.PutAsync(Path(session, null), PolicyCli.Session.Json(body), cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                return await session.FailAsync(response, $"{file.Name}: the registry refused the rollout for '{session.Service}'; nothing was changed", cancellationToken);
            }

            using var answer = await PolicyCli.Session.ReadAsync(response, cancellationToken);
            await session.Output.WriteLineAsync($"started: {Summary(answer.RootElement)}");
            return PolicyCli.Ok;
        });
    }

    private static Task<int> StatusAsync(PolicyCli.Session session, CancellationToken cancellationToken) => session.CallAsync(async http =>
    {
        using var response = await http.GetAsync(Path(session, null), cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            return await session.FailAsync(response, $"could not read the rollout of '{session.Service}'", cancellationToken);
        }

        using var answer = await PolicyCli.Session.ReadAsync(response, cancellationToken);
        await session.Output.WriteLineAsync(Summary(answer.RootElement));
        await session.Output.WriteLineAsync($"{"at (UTC)",-19}  {"step",4}  {"weight",6}  {"verdict",-10}  reason");
        foreach (var d in answer.RootElement.GetProperty("decisions").EnumerateArray())
        {
            await session.Output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"{d.GetProperty("at").GetDateTimeOffset().UtcDateTime:yyyy-MM-dd HH:mm:ss}  {d.GetProperty("step").GetInt32(),4}  {d.GetProperty("weight").GetInt32(),5}%  {d.GetProperty("verdict").GetString(),-10}  {d.GetProperty("reason").GetString()}"));
        }

        return PolicyCli.Ok;
    });

    private static Task<int> CommandAsync(PolicyCli.Session session, string command, string done, CancellationToken cancellationToken) =>
        session.CallAsync(async http =>
        {
            using var response = await http.PostAsync(Path(session, command), null, cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                return await session.FailAsync(response, $"could not {command} the rollout of '{session.Service}'", cancellationToken);
            }

            using var answer = await PolicyCli.Session.ReadAsync(response, cancellationToken);
            await session.Output.WriteLineAsync($"{done}: {Summary(answer.RootElement)}");
            return PolicyCli.Ok;
        });

    /// <summary>One line: whose rollout, where it is.</summary>
    private static string Summary(JsonElement rollout)
    {
        var spec = rollout.GetProperty("spec");
        var steps = spec.GetProperty("steps").GetArrayLength();
        return string.Create(CultureInfo.InvariantCulture,
            $"'{rollout.GetProperty("service").GetString()}' rollout of '{spec.GetProperty("canary").GetString()}' over '{spec.GetProperty("stable").GetString()}' on route '{spec.GetProperty("route").GetString()}': {rollout.GetProperty("state").GetString()}, step {rollout.GetProperty("step").GetInt32()} of {steps}, canary at {rollout.GetProperty("weight").GetInt32()}%");
    }

    private static Uri Path(PolicyCli.Session session, string? command) =>
        new($"/v1/rollouts/{Uri.EscapeDataString(session.Service)}{(command is null ? string.Empty : "/" + command)}", UriKind.Relative);
}
