using System.Text.Json;
using Grpc.Core;

namespace Bookinfo;

/// <summary>
/// What each Bookinfo service does. productpage asks details and reviews over HTTP; reviews v1 shows no stars, v2 black
/// and v3 red stars, both asking ratings over gRPC; the caller's <c>end-user</c> header travels along either way, as
/// routes match on it.
/// </summary>
internal static class BookinfoApps
{
    public const string EndUserHeader = "end-user";

    /// <summary>ratings is a gRPC server (Grpc.AspNetCore); its port speaks HTTP/2, negotiated by the mesh's TLS.</summary>
    public static void AddRatings(IServiceCollection services) => services.AddGrpc();

    public static void MapRatings(WebApplication app) => app.MapGrpcService<RatingsService>();

    public static void MapDetails(WebApplication app) =>
        app.MapGet("/details/{id:int}", (int id) => Results.Ok(new DetailsAnswer(id, "The Comedy of Errors", "William Shakespeare", 1595)));

    /// <summary>
    /// reviews v2 and v3 call ratings with Grpc.Net.Client's factory client, meshed: the address names the logical
    /// service, which only the mesh resolves, routes and balances.
    /// </summary>
    public static void AddRatingsClient(IServiceCollection services) =>
        services.AddGrpcClient<Ratings.RatingsClient>(o => o.Address = new Uri("http://ratings")).AddServiceMesh();

    public static void MapReviews(WebApplication app, string version, string? stars) =>
        app.MapGet("/reviews/{id:int}", async (int id, HttpContext context) =>
        {
            int? rating = null;
            if (stars is not null)
            {
                // Bookinfo's reviews page still answers when ratings does not; it just shows no stars.
                var ratings = context.RequestServices.GetRequiredService<Ratings.RatingsClient>();
                try
                {
                    var reply = await ratings.GetRatingAsync(new RatingRequest { Id = id }, ForwardedMetadata(context),
                        cancellationToken: context.RequestAborted);
                    rating = reply.Stars;
                }
                catch (RpcException)
                {
                    rating = null;
                }
            }

            return Results.Ok(new ReviewsAnswer(id, version, rating, stars));
        });

    public static void MapProductPage(WebApplication app) =>
        app.MapGet("/productpage/{id:int}", async (int id, HttpContext context, IHttpClientFactory clients) =>
        {
            var client = clients.CreateClient("productpage");
            using var detailsRequest = Forward(context, $"http://details/details/{id}");
            using var reviewsRequest = Forward(context, $"http://reviews/reviews/{id}");
            var details = client.SendAsync(detailsRequest, context.RequestAborted);
            var reviews = client.SendAsync(reviewsRequest, context.RequestAborted);
            try
            {
                using var detailsResponse = await details;
                using var reviewsResponse = await reviews;
                if (!detailsResponse.IsSuccessStatusCode || !reviewsResponse.IsSuccessStatusCode)
                {
                    return Results.Problem(statusCode: StatusCodes.Status502BadGateway, title: "A backend failed",
                        detail: $"details {(int)detailsResponse.StatusCode}, reviews {(int)reviewsResponse.StatusCode}");
                }

                var book = await detailsResponse.Content.ReadFromJsonAsync<DetailsAnswer>(context.RequestAborted);
                var review = await reviewsResponse.Content.ReadFromJsonAsync<ReviewsAnswer>(context.RequestAborted);
                return Results.Ok(new ProductPage(id, book!, review!));
            }
            catch (HttpRequestException ex)
            {
                return Results.Problem(statusCode: StatusCodes.Status502BadGateway, title: "A backend failed", detail: ex.Message);
            }
            catch (JsonException ex)
            {
                return Results.Problem(statusCode: StatusCodes.Status502BadGateway, title: "A backend answered nonsense", detail: ex.Message);
            }
        });

    /// <summary>
    /// The ingress: plain HTTP from outside the mesh (a browser, curl) to productpage, which speaks only mutual TLS, as
    /// Istio's Bookinfo has its ingress gateway. It forwards <c>end-user</c>, so routes that match on it apply.
    /// </summary>
    public static void MapIngress(WebApplication app)
    {
        app.MapGet("/", () => Results.Redirect("/productpage/1"));
        app.MapGet("/productpage/{id:int}", async (int id, HttpContext context, IHttpClientFactory clients) =>
        {
            using var request = Forward(context, $"http://productpage/productpage/{id}");
            try
            {
                using var response = await clients.CreateClient("ingress").SendAsync(request, context.RequestAborted);
                context.Response.StatusCode = (int)response.StatusCode;
                context.Response.ContentType = response.Content.Headers.ContentType?.ToString();
                await response.Content.CopyToAsync(context.Response.Body, context.RequestAborted);
            }
            catch (HttpRequestException ex)
            {
                await Results.Problem(statusCode: StatusCodes.Status502BadGateway, title: "productpage did not answer", detail: ex.Message)
                    .ExecuteAsync(context);
            }
        });
    }

    private static HttpRequestMessage Forward(HttpContext context, string url)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, new Uri(url));
        if (context.Request.Headers.TryGetValue(EndUserHeader, out var user))
        {
            request.Headers.TryAddWithoutValidation(EndUserHeader, (IEnumerable<string>)user);
        }

        return request;
    }

    /// <summary>The caller's <c>end-user</c> as gRPC metadata, which travels as the same HTTP/2 header.</summary>
    private static Metadata? ForwardedMetadata(HttpContext context)
    {
        if (!context.Request.Headers.TryGetValue(EndUserHeader, out var user))
        {
            return null;
        }

        var metadata = new Metadata();
        foreach (var value in user)
        {
            if (value is not null)
            {
                metadata.Add(EndUserHeader, value);
            }
        }

        return metadata;
    }
}

internal sealed record DetailsAnswer(int Id, string Title, string Author, int Year);

internal sealed record ReviewsAnswer(int Id, string Version, int? Stars, string? Color);

internal sealed record ProductPage(int Id, DetailsAnswer Details, ReviewsAnswer Reviews);
