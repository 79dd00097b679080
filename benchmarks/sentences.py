"""Held-out sentences shared by the benchmarks (none appears in the voice's training prompts)."""

SENTENCES = [
    "Good morning, and welcome aboard.",
    "The next train to the airport leaves in five minutes from platform two.",
    "Please keep your belongings with you at all times.",
    "Your order has shipped and will arrive on Tuesday afternoon.",
    "I could not find that contact; would you like to try again?",
    "The meeting has been moved to the large conference room on the third floor.",
    "Thank you for calling, how can I help you today?",
    "Remember to drink water and take a short walk every hour.",
]
