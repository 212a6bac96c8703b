-- Issue 18, one vocabulary: a call's satisfaction is spelt satisfied | fairly_satisfied |
-- dissatisfied on the wire and here (hospital_shared.vocabulary.Satisfaction), as complaints and
-- metrics always spelt it; calls recorded before were stored as 满意 | 基本满意 | 不满意. The
-- answers per question are sealed (answers column): they are read in the new spelling by
-- repository.answers_of instead.
UPDATE follow_up_tasks
   SET satisfaction = CASE satisfaction
                          WHEN '满意' THEN 'satisfied'
                          WHEN '基本满意' THEN 'fairly_satisfied'
                          WHEN '不满意' THEN 'dissatisfied'
                      END
 WHERE satisfaction IN ('满意', '基本满意', '不满意');
