"""The console's pages by what they show: experiments, model versions, the campaign catalogue."""
