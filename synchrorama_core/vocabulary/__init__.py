"""Shared vocabularies: the words and values several stages must agree on.

* :mod:`.emotions`: emotion -> valence/arousal prototypes, adjectives and facial cues, prompt
  phrases, emotion summaries over a time window, emotion labels in training-data paths;
* :mod:`.actions`: the scene actions the A2M stage turns into head gestures (canonical names,
  synonyms, extraction from free text).
"""
from .actions import ACTION_HELP, ACTIONS, canonical_action, extract_actions, normalise_actions
from .emotions import (EMOTION_CUES, EMOTION_VA, EMOTION_WORDS, EmotionSummary, emotion_from_path, emotion_phrase,
                       emotion_word, labelled_emotion, summarise_emotion)

__all__ = ["ACTION_HELP", "ACTIONS", "canonical_action", "extract_actions", "normalise_actions", "EMOTION_CUES",
           "EMOTION_VA", "EMOTION_WORDS", "EmotionSummary", "emotion_from_path", "emotion_phrase", "emotion_word",
           "labelled_emotion", "summarise_emotion"]
