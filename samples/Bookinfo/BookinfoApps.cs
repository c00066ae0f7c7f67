using System.Text.Json;

namespace Bookinfo;

/// <summary>
/// What each Bookinfo service does. productpage asks details and reviews; reviews v1 shows no stars, v2 black and v3
/// red stars, both asking ratings; the caller's <c>end-user</c> header travels along, as routes match on it.
/// </summary>
internal static class BookinfoApps
{
    public const string EndUserHeader = "end-user";

    public static void MapRatings(WebApplication app) =>
        app.MapGet("/ratings/{id:int}", (int id) => Results.Ok(new RatingsAnswer(id, 1 + (Math.Abs(id) % 5))));

    public static void MapDetails(WebApplication app) =>
        app.MapGet("/details/{id:int}", (int id) => Results.Ok(new DetailsAnswer(id, "The Comedy of Errors", "William Shakespeare", 1595)));

    public static void MapReviews(WebApplication app, string version, string? stars) =>
        app.MapGet("/reviews/{id:int}", async (int id, HttpContext context, IHttpClientFactory clients) =>
        {
            int? rating = null;
            if (stars is not null)
            {
                // Bookinfo's reviews page still answers when ratings does not; it just shows no stars.
                using var request = Forward(context, $"http://ratings/ratings/{id}");
                try
                {
                    using var response = await clients.CreateClient("ratings").SendAsync(request, context.RequestAborted);
                    if (response.IsSuccessStatusCode)
                    {
                        rating = (await response.Content.ReadFromJsonAsync<RatingsAnswer>(context.RequestAborted))?.Stars;
                    }
                }
                catch (HttpRequestException)
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

    private static HttpRequestMessage Forward(HttpContext context, string url)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, new Uri(url));
        if (context.Request.Headers.TryGetValue(EndUserHeader, out var user))
        {
            request.Headers.TryAddWithoutValidation(EndUserHeader, (IEnumerable<string>)user);
        }

        return request;
    }
}

internal sealed record RatingsAnswer(int Id, int Stars);

internal sealed record DetailsAnswer(int Id, string Title, string Author, int Year);

internal sealed record ReviewsAnswer(int Id, string Version, int? Stars, string? Color);

internal sealed record ProductPage(int Id, DetailsAnswer Details, ReviewsAnswer Reviews);
